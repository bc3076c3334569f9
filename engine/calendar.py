"""A working-day calendar: weekends, public holidays and configured day transfers.

The calendar is generic. Public holidays come from a holiday provider (any object with
`__contains__(date)` and `get(date)`, such as a `holidays` package calendar, which already
moves a holiday falling on a weekend where the country's law says so); the government's
day transfers come from an override table in configuration: `{date: True}` makes a day a
working day (a working Saturday), `{date: False}` makes it a day off.

Precedence for one day: override table, then the provider's holidays, then the provider's
own working weekend days (`weekend_workdays`, as the `holidays` package records transfers
it knows of), then Saturday/Sunday.

Administration: `current_calendar()` is the calendar in force, from configuration
(CALENDAR_COUNTRY, CALENDAR_TIMEZONE, CALENDAR_OVERRIDES) and the `calendar_override` table
that administrators change with `flask calendar set/remove` (audited); a stored day
overrides a configured one.

Counting: `add_working_days(d, n)` is "n working days after d, not counting d", and
`working_days_between(a, b)` counts the working days in (a, b], so that
`working_days_between(d, add_working_days(d, n)) == n`.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import threading
from dataclasses import dataclass

import click
import holidays
import sqlalchemy as sa
from flask import current_app, g, has_request_context
from flask.cli import AppGroup

from . import audit, clock
from .db import UTCDateTime, db
from .exceptions import NotFound

WEEKEND = frozenset({5, 6})  # Saturday, Sunday
WORKING_DAY = "working day"
WEEKEND_DAY = "weekend"
DAY_OFF_BY_TRANSFER = "day off by transfer"
# A provider that reports no working day for this long is broken; stop instead of looping.
MAX_NON_WORKING_RUN = 366

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class WorkingCalendar:
    """Which days are working days, in one time zone, and counting over them."""

    def __init__(self, tz: ZoneInfo | str, holiday_provider, overrides: Mapping | None = None,
                 version: str | None = None):
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.holiday_provider = holiday_provider
        self.overrides: dict[date, bool] = _normalise_overrides(overrides or {})
        self._version = version or _fingerprint(self.source)

    @property
    def version(self) -> str:
        """Short, stable identity of what decides working days (provider, zone, overrides)."""
        return self._version

    @property
    def source(self) -> dict:
        """What the version is derived from, JSON-serializable, for logs and explanations."""
        return {
            "provider": _provider_identity(self.holiday_provider),
            "timezone": self.tz.key,
            "overrides": {d.isoformat(): v for d, v in sorted(self.overrides.items())},
        }

    def is_working_day(self, d: date | datetime) -> bool:
        d = self.local_date(d)
        if d in self.overrides:
            return self.overrides[d]
        if d in self.holiday_provider:
            return False
        if d.weekday() in WEEKEND:
            return d in self._provider_weekend_workdays(d)
        return True

    def why(self, d: date | datetime) -> str:
        """Why the day is or is not a working day, in words fit for an explanation."""
        d = self.local_date(d)
        weekday = d.strftime("%A")
        if d in self.overrides:
            if not self.overrides[d]:
                return DAY_OFF_BY_TRANSFER
            if d.weekday() in WEEKEND:
                return f"working {weekday} by transfer"
            if d in self.holiday_provider:
                return f"working day by transfer (instead of {self.holiday_provider.get(d)})"
            return WORKING_DAY
        if d in self.holiday_provider:
            return str(self.holiday_provider.get(d))
        if d.weekday() in WEEKEND:
            if d in self._provider_weekend_workdays(d):
                return f"working {weekday} by transfer"
            return WEEKEND_DAY
        return WORKING_DAY

    def add_working_days(self, d: date | datetime, n: int) -> date:
        """The day on which the n-th working day after d falls; d itself is not counted."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"number of working days must be an integer >= 0, got {n!r}")
        day = self.local_date(d)
        counted = 0
        run = 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
                run = 0
            else:
                run += 1
                if run > MAX_NON_WORKING_RUN:
                    raise ValueError(f"no working day for {run} days after {day - timedelta(days=run)}")
        return day

    def working_days_between(self, a: date | datetime, b: date | datetime) -> int:
        """Working days in (a, b]: a not counted, b counted; negative when b is before a."""
        a, b = self.local_date(a), self.local_date(b)
        if b < a:
            return -self.working_days_between(b, a)
        return sum(1 for day in _days_after(a, b) if self.is_working_day(day))

    def non_working_days(self, a: date | datetime, b: date | datetime) -> list[tuple[date, str]]:
        """The non-working days in (a, b], each with the reason."""
        a, b = self.local_date(a), self.local_date(b)
        return [(day, self.why(day)) for day in _days_after(a, b) if not self.is_working_day(day)]

    def start_of_day(self, d: date | datetime) -> datetime:
        return datetime.combine(self.local_date(d), time(0, 0, 0), tzinfo=self.tz)

    def end_of_day(self, d: date | datetime) -> datetime:
        """23:59:59 local, to the second: the instant a deadline "by the end of the day" expires."""
        return datetime.combine(self.local_date(d), time(23, 59, 59), tzinfo=self.tz)

    def at_local_time(self, d: date | datetime, hhmm: str | time) -> datetime:
        """The local clock time `hhmm` ("09:00", or a `time`) on day d, aware."""
        if isinstance(hhmm, time):
            if hhmm.tzinfo is not None:
                raise ValueError("local time of day must not carry a time zone")
            clock_time = hhmm
        else:
            clock_time = parse_hhmm(hhmm)
        return datetime.combine(self.local_date(d), clock_time, tzinfo=self.tz)

    def local_date(self, value: date | datetime) -> date:
        """The calendar day of a date, or of an aware datetime seen in this calendar's zone."""
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(
                    f"naive datetime {value.isoformat()} refused: a time without a time zone "
                    f"is ambiguous; pass an aware datetime or a date")
            return value.astimezone(self.tz).date()
        if isinstance(value, date):
            return value
        raise TypeError(f"expected a date or an aware datetime, got {type(value).__name__}")

    def _provider_weekend_workdays(self, d: date):
        # A transfer to a December weekend belongs to next year's decree; load that year too.
        if d.month == 12:
            date(d.year + 1, 1, 1) in self.holiday_provider  # noqa: B015 - populates the year
        return getattr(self.holiday_provider, "weekend_workdays", ())

    def __repr__(self) -> str:
        return f"WorkingCalendar({self.tz.key!r}, version={self.version!r})"


def calendar_for_country(country: str, tz: str | ZoneInfo, overrides: Mapping | None = None,
                         years=None, *, language: str | None = "en_US") -> WorkingCalendar:
    """A calendar of a country's public holidays (the `holidays` package) plus day transfers.

    `language` only changes the holiday names `why()` gives, never which days are off.
    """
    provider = holidays.country_holidays(country, years=years, language=language)
    return WorkingCalendar(tz, provider, overrides)


def parse_hhmm(hhmm: str) -> time:
    """"HH:MM" on a 24-hour clock, strictly two digits each."""
    match = _HHMM.match(hhmm) if isinstance(hhmm, str) else None
    if not match:
        raise ValueError(f"local time must be 'HH:MM' (24-hour), got {hhmm!r}")
    return time(int(match.group(1)), int(match.group(2)))


# --- administered day transfers ---------------------------------------------------------
# The government announces day transfers during the year; administrators record them with
# `flask calendar set/remove` (audited). CALENDAR_OVERRIDES in configuration seeds the
# calendar: a stored row for the same day takes precedence over it.

CONFIG_SOURCE, STORED_SOURCE = "config", "stored"


class CalendarOverride(db.Model):
    __tablename__ = "calendar_override"

    day = sa.Column("date", sa.Date, primary_key=True)
    is_working_day = sa.Column(sa.Boolean, nullable=False)
    reason = sa.Column(sa.String(300), nullable=False)
    changed_by = sa.Column(sa.String(200), nullable=False)
    changed_at = sa.Column(UTCDateTime, nullable=False)


@dataclass(frozen=True)
class Override:
    """One day transfer in force, and where it comes from (configuration or the table)."""

    day: date
    is_working_day: bool
    reason: str
    source: str
    changed_by: str | None = None
    changed_at: datetime | None = None

    def as_dict(self) -> dict:
        return {"date": self.day.isoformat(), "is_working_day": self.is_working_day,
                "reason": self.reason, "source": self.source, "changed_by": self.changed_by,
                "changed_at": self.changed_at.isoformat() if self.changed_at else None}


def current_calendar(config=None, session=None) -> WorkingCalendar:
    """The calendar in force: the configured country and zone, configured and stored transfers.

    Built once per distinct content (the table is read once per request, it holds a few rows).
    """
    if has_request_context() and (config is None or config is current_app.config) \
            and (session is None or session is db.session or session is db.session()):
        # A page shows a deadline per row: one read of the table per request, not per row.
        calendar = g.get("_working_calendar")
        if calendar is None:
            calendar = g._working_calendar = _build_calendar(current_app.config, db.session)
        return calendar
    return _build_calendar(config if config is not None else current_app.config,
                           session if session is not None else db.session)


def _build_calendar(config, session) -> WorkingCalendar:
    overrides = _configured_overrides(config)
    overrides.update(session.execute(
        sa.select(CalendarOverride.day, CalendarOverride.is_working_day)).all())
    key = (config["CALENDAR_COUNTRY"], config["CALENDAR_TIMEZONE"], tuple(sorted(overrides.items())))
    with _CALENDARS_LOCK:
        calendar = _CALENDARS.get(key)
    if calendar is None:
        calendar = calendar_for_country(key[0], key[1], overrides)
        with _CALENDARS_LOCK:
            if len(_CALENDARS) >= 16:  # a handful of live versions; old ones are garbage
                _CALENDARS.clear()
            _CALENDARS[key] = calendar
    return calendar


def overrides_in_force(config=None, session=None) -> list[Override]:
    """Every day transfer in force, stored ones over configured ones, by date."""
    config = config if config is not None else current_app.config
    session = session if session is not None else db.session
    result = {day: Override(day, working, "CALENDAR_OVERRIDES", CONFIG_SOURCE)
              for day, working in _configured_overrides(config).items()}
    for row in session.execute(sa.select(CalendarOverride)).scalars():
        result[row.day] = Override(row.day, row.is_working_day, row.reason, STORED_SOURCE,
                                   row.changed_by, row.changed_at)
    return [result[day] for day in sorted(result)]


def set_override(day: date, is_working_day: bool, reason: str, actor: str, commit: bool = True,
                 session=None) -> Override:
    """Record a day transfer (a working Saturday, an extra day off), audited."""
    session = session if session is not None else db.session
    if isinstance(day, datetime) or not isinstance(day, date):
        raise ValueError(f"a day transfer is for a date, got {day!r}")
    if not isinstance(is_working_day, bool):
        raise ValueError("is_working_day must be true or false")
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a day transfer needs a reason (the decree, say)")
    row = session.get(CalendarOverride, day)
    previous = _stored_dict(row)
    if row is None:
        row = CalendarOverride(day=day)
        session.add(row)
    row.is_working_day, row.reason = is_working_day, reason[:300]
    row.changed_by, row.changed_at = actor, clock.now()
    audit.record("calendar_override_set", actor=actor, details={
        "date": day.isoformat(), "is_working_day": is_working_day, "reason": row.reason,
        "previous": previous})
    if commit:
        session.commit()
    _forget_calendars()
    return Override(day, is_working_day, row.reason, STORED_SOURCE, row.changed_by, row.changed_at)


def remove_override(day: date, actor: str, commit: bool = True, session=None) -> None:
    """Delete a stored day transfer, audited; a configured one for the day applies again."""
    session = session if session is not None else db.session
    row = session.get(CalendarOverride, day)
    if row is None:
        raise NotFound(f"no stored day transfer for {day.isoformat()}")
    audit.record("calendar_override_removed", actor=actor, details={
        "date": day.isoformat(), "previous": _stored_dict(row)})
    session.delete(row)
    if commit:
        session.commit()
    _forget_calendars()


_CALENDARS: dict[tuple, WorkingCalendar] = {}
_CALENDARS_LOCK = threading.Lock()


def _forget_calendars():
    with _CALENDARS_LOCK:
        _CALENDARS.clear()
    if has_request_context():
        g.pop("_working_calendar", None)


def _configured_overrides(config) -> dict[date, bool]:
    return _normalise_overrides(config.get("CALENDAR_OVERRIDES") or {})


def _stored_dict(row) -> dict | None:
    if row is None:
        return None
    return {"is_working_day": row.is_working_day, "reason": row.reason, "changed_by": row.changed_by,
            "changed_at": row.changed_at.isoformat() if row.changed_at else None}


def _days_after(a: date, b: date):
    day = a + timedelta(days=1)
    while day <= b:
        yield day
        day += timedelta(days=1)


def _normalise_overrides(overrides: Mapping) -> dict[date, bool]:
    normalised = {}
    for key, value in overrides.items():
        if isinstance(key, datetime):
            raise ValueError(f"override key {key!r} must be a date, not a datetime")
        if isinstance(key, str):
            try:
                key = date.fromisoformat(key)
            except ValueError:
                raise ValueError(f"override key {key!r} is not an ISO date (YYYY-MM-DD)") from None
        if not isinstance(key, date):
            raise ValueError(f"override key {key!r} must be a date")
        if not isinstance(value, bool):
            raise ValueError(f"override for {key.isoformat()} must be true (working day) or "
                             f"false (day off), got {value!r}")
        normalised[key] = value
    return normalised


def _provider_identity(provider) -> dict:
    cls = type(provider)
    identity = {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "package": _package_version(cls.__module__.split(".")[0]),
    }
    for attribute in ("country", "subdiv", "observed", "categories"):
        value = getattr(provider, attribute, None)
        if value is not None:
            identity[attribute] = sorted(value) if isinstance(value, (set, frozenset, tuple)) else value
    # A finite provider (a plain set or mapping of dates) is identified by its content.
    if isinstance(provider, (set, frozenset)) or (
            isinstance(provider, Mapping) and not isinstance(provider, holidays.HolidayBase)):
        identity["dates"] = sorted(str(d) for d in provider)
    return identity


def _package_version(top_level_module: str) -> str | None:
    try:
        return importlib.metadata.version(top_level_module)
    except importlib.metadata.PackageNotFoundError:
        return None


def _fingerprint(source: dict) -> str:
    canonical = json.dumps(source, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


# --- command line: `flask calendar ...` --------------------------------------------------------

calendar_cli = AppGroup("calendar", help="Working days: day transfers in force, checked and changed.")
_DATE = click.DateTime(formats=["%Y-%m-%d"])


@calendar_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_overrides_command(as_json):
    """Every day transfer in force (stored ones over configured ones)."""
    rows = overrides_in_force()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no day transfers")
    for r in rows:
        kind = "working day" if r.is_working_day else "day off"
        by = f"{r.changed_by} {r.changed_at:%Y-%m-%d %H:%M}" if r.source == STORED_SOURCE else r.source
        click.echo(f"{r.day.isoformat()} {r.day:%a}\t{kind}\t{r.reason}\t({by})")
    click.echo(f"calendar version {current_calendar().version}")


@calendar_cli.command("set")
@click.argument("day", type=_DATE)
@click.option("--working/--day-off", "is_working_day", default=None,
              help="A working day (a working Saturday) or a day off.")
@click.option("--reason", required=True, help="Why: the decree or order, for the audit log.")
@click.option("--actor", default="cli", help="Who changes it, for the audit log.")
def set_override_command(day, is_working_day, reason, actor):
    """Make DAY (YYYY-MM-DD) a working day or a day off."""
    if is_working_day is None:
        raise click.UsageError("say --working or --day-off")
    try:
        set_override(day.date(), is_working_day, reason, actor)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    _echo_day(day.date())


@calendar_cli.command("remove")
@click.argument("day", type=_DATE)
@click.option("--actor", default="cli", help="Who changes it, for the audit log.")
def remove_override_command(day, actor):
    """Delete the stored day transfer of DAY; a configured one for DAY applies again."""
    try:
        remove_override(day.date(), actor)
    except NotFound as err:
        raise click.ClickException(str(err)) from None
    _echo_day(day.date())


@calendar_cli.command("check")
@click.argument("days", type=_DATE, nargs=-1, required=True)
def check_day_command(days):
    """Whether each DAY is a working day, and why."""
    for day in days:
        _echo_day(day.date())


def _echo_day(day: date) -> None:
    calendar = current_calendar()
    kind = "working day" if calendar.is_working_day(day) else "day off"
    click.echo(f"{day.isoformat()} {day:%A}: {kind} ({calendar.why(day)}); calendar {calendar.version}")
