"""How values look on the pages: times in the calendar's zone, words for codes, data as tables."""
from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

from engine import clock
from engine.calendar import current_calendar
from handlers import grounds

from . import bp

# Keys of the case data every page shows in its own section (the rest is "other case data").
KNOWN_DATA_KEYS = ("application", "checks", "police_reply", "outcome", "permit", "deadlines",
                   "identity", "region", "case_id")


@bp.app_template_filter("local_time")
def local_time(value, fmt="%d.%m.%Y %H:%M") -> str:
    """An aware datetime, or an ISO 8601 text with an offset, in CALENDAR_TIMEZONE."""
    moment = as_datetime(value)
    if moment is None:
        return "" if value in (None, "") else str(value)
    return moment.astimezone(_zone()).strftime(fmt)


@bp.app_template_filter("local_date")
def local_date(value) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).strftime("%d.%m.%Y")
        except ValueError:
            return value
    return local_time(value, "%d.%m.%Y")


@bp.app_template_filter("iso")
def iso(value) -> str:
    moment = as_datetime(value)
    return moment.isoformat() if moment else ""


ACRONYMS = {"iin": "IIN", "kzt": "KZT", "mci": "MCI", "eaeu": "EAEU", "id": "ID", "utc": "UTC",
            "esutd": "ЕСУТД", "egov": "eGov", "psc": "PSC"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")


@bp.app_template_filter("words")
def words(value) -> str:
    """A code as words: "police_no_answer" -> "Police no answer", "due_kzt" -> "Due KZT"."""
    text = str(value if value is not None else "").replace(".", " ").strip()
    parts = [ACRONYMS.get(p.lower(), p) for p in text.replace("_", " ").split()]
    text = " ".join(parts)
    return text[:1].upper() + text[1:]


@bp.app_template_filter("pretty")
def pretty(value) -> str:
    """A text value as officers read it: ISO dates as dd.mm.yyyy, ISO times in Almaty time."""
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            return local_date(value)
        if _ISO_MOMENT.match(value):
            return local_time(value.replace("Z", "+00:00"))
    return value


@bp.app_template_filter("region_name")
def region_name(code) -> str:
    if not code:
        return "—"
    return f"{current_app.config['REGIONS'].get(code, code)} ({code})"


@bp.app_template_filter("ground_title")
def ground_title(code) -> str:
    ground = grounds.REFUSAL_GROUNDS.get(code) or grounds.REVOCATION_GROUNDS.get(code)
    return ground.title if ground else words(code)


@bp.app_template_global("scalar")
def scalar(value) -> bool:
    return not isinstance(value, (dict, list, tuple))


@bp.app_template_global("check_verdict")
def check_verdict(result):
    """"passed", "failed" or None for a check's result of any usual shape."""
    if isinstance(result, bool):
        return "passed" if result else "failed"
    if not isinstance(result, dict):
        return None
    for key in ("passed", "ok", "pass", "valid", "matches", "agreed", "held", "accepted"):
        if isinstance(result.get(key), bool):
            return "passed" if result[key] else "failed"
    for key in ("status", "result", "verdict", "answer"):
        value = str(result.get(key, "")).lower()
        if value in ("pass", "passed", "ok", "valid", "agreed", "agree", "approved", "approve", "positive"):
            return "passed"
        if value in ("fail", "failed", "invalid", "objection", "object", "refused", "negative", "rejected"):
            return "failed"
    if result.get("grounds"):
        return "failed"
    return None


@bp.app_template_global("table_columns")
def table_columns(rows) -> list[str] | None:
    """Columns for a list of dicts shown as one table (None if the list is not such a list)."""
    if not rows or not all(isinstance(r, dict) for r in rows):
        return None
    columns = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    return columns


def working_days_left(due_at, now=None) -> int | None:
    """Working days from today to the due day (0: due today; negative: overdue by that many)."""
    moment = as_datetime(due_at)
    if moment is None:
        return None
    calendar = current_calendar()
    return calendar.working_days_between(now or clock.now(), moment)


def is_overdue(due_at, now=None) -> bool:
    moment = as_datetime(due_at)
    return moment is not None and moment < (now or clock.now())


def as_datetime(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else None
    return None


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["CALENDAR_TIMEZONE"])


bp.add_app_template_global(working_days_left, "working_days_left")
bp.add_app_template_global(is_overdue, "is_overdue")
