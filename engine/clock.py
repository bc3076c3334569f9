"""The one source of "now" for the whole application.

Everything that needs the current time calls `now()`; tests travel in time with
`time-machine`, which patches `datetime.now` for this module and SpiffWorkflow alike.
The database's own `now()` is never used.
"""
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo


# A rehearsal's "now" (scenario replay), for this thread only; None: the real time.
_SET: ContextVar[datetime | None] = ContextVar("clock_set", default=None)

def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    fixed = _SET.get()
    if fixed is not None:
        return fixed
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


@contextmanager
def set_to(moment: datetime):
    """Within the block this thread's clock (and SpiffWorkflow's timers) reads `moment`."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime refused: a moment carries a zone")
    token = _SET.set(moment.astimezone(timezone.utc))
    try:
        yield
    finally:
        _SET.reset(token)


class _TimerClock(datetime):
    """What SpiffWorkflow's timer module calls `datetime`: its `now` is this module's."""

    @classmethod
    def now(cls, tz=None):
        fixed = _SET.get()
        if fixed is None:
            return datetime.now(tz)
        return fixed.astimezone(tz) if tz is not None else fixed.astimezone().replace(tzinfo=None)


def _install_timer_clock():
    # SpiffWorkflow reads datetime.now directly for timers (no clock injection).
    import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer_module
    timer_module.datetime = _TimerClock


_install_timer_clock()
