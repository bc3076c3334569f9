"""The one source of "now" for the whole application.

Everything that needs the current time calls `now()`; tests travel in time with
`time-machine`, which patches `datetime.now` for this module and SpiffWorkflow alike.
The database's own `now()` is never used.
"""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

ALMATY = ZoneInfo("Asia/Almaty")


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def local_now(tz: ZoneInfo = ALMATY) -> datetime:
    return now().astimezone(tz)


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive value read back from SQLite; convert aware values."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
