"""The one source of "now" for the whole application.

Everything that needs the current time calls `now()`; tests travel in time with
`time-machine`, which patches `datetime.now` for this module and SpiffWorkflow alike.
The database's own `now()` is never used.
"""
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def local_zone(config: Mapping[str, Any] | None = None) -> ZoneInfo:
    """The service's zone (CALENDAR_TIMEZONE): deadlines are computed and days counted in it.

    `config` defaults to the current application's; the engine assumes no zone of its own.
    """
    if config is None:
        from flask import current_app
        config = current_app.config
    return ZoneInfo(config["CALENDAR_TIMEZONE"])  # ZoneInfo caches one object per key


def to_local(moment: datetime, config: Mapping[str, Any] | None = None) -> datetime:
    """`moment` (aware) as a local time of the service's zone."""
    return moment.astimezone(local_zone(config))


def local_now(config: Mapping[str, Any] | None = None) -> datetime:
    return now().astimezone(local_zone(config))


def local_today(config: Mapping[str, Any] | None = None) -> date:
    """The day it is now in the service's zone (a filing day, a permit's first day)."""
    return local_now(config).date()


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive value read back from SQLite; convert aware values."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
