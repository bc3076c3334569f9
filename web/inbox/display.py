"""How values look on the pages: times in the calendar's zone, words for codes, data as tables."""
from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import format_decimal, gettext, ngettext

from engine import clock
from engine.calendar import current_calendar
from engine.deadlines import parse_rule
from handlers import documents as document_register, grounds, i18n, titles

from .blueprint import bp

# Keys of the case data every page shows in its own section (the rest is "other case data").
KNOWN_DATA_KEYS = ("application", "checks", "police_reply", "outcome", "permit", "deadlines",
                   "identity", "region", "case_id",
                   # the procedures' own bookkeeping, shown elsewhere in words or of no use to a reader
                   "terms", "completed_by", "police_request", "released", "notified", "reminded",
                   "supervisors_told", "validity", "validity_told", "validity_end", "escalation",
                   "filed_at", "grounds", "decision", "kind", "decision_deadline", "police_deadline",
                   "consent_deadline", "police_answer_kept", "police_answer_missed", "consent_kept",
                   "consent_missed", "quota", "expiry")
# Numbers that are names (a year, a number of a unit), never grouped by thousands.
PLAIN_NUMBER_KEYS = ("year", "unit_id", "id", "number", "sequence", "request_id")


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
    """A key as the officer reads it: its field title in the officer's language, else the code
    as words ("police_no_answer" -> "Police no answer")."""
    known = titles.title(titles.FIELDS, value, gettext) or titles.title(titles.CHECKS, value, gettext)
    if known:
        return known
    return code_words(value)


def code_words(value) -> str:
    text = str(value if value is not None else "").replace(".", " ").strip()
    parts = [ACRONYMS.get(p.lower(), p) for p in text.replace("_", " ").split()]
    text = " ".join(parts)
    return text[:1].upper() + text[1:]


@bp.app_template_filter("pretty")
def pretty(value, key=None) -> str:
    """A text value as officers read it: ISO dates as dd.mm.yyyy, ISO times in Almaty time, and
    the codes of a known kind (country, document type, verdict, ground) by their titles."""
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            return local_date(value)
        if _ISO_MOMENT.match(value):
            return local_time(value.replace("Z", "+00:00"))
        named = code_title(value, key)
        if named:
            return named
    return value


COUNTRY_KEYS = ("citizenship", "country", "nationality", "country_of_birth")


def code_title(value, key=None) -> str | None:
    """The title of a code a value holds, judged by its key, or None when it is not such a code."""
    if not isinstance(value, str):
        return None
    if key in COUNTRY_KEYS and len(value) == 2 and value.isalpha():
        return country(value)
    if value in document_register.DOCUMENT_TITLES:  # the document types are codes of their own
        return gettext(document_register.DOCUMENT_TITLES[value])
    if key == "formula":
        return formula(value)
    if key == "event":
        return titles.title(titles.PERMIT_EVENTS, value, gettext)
    if key == "actor":
        return titles.title(titles.ACTORS, value, gettext)
    if key in ("reason", "release_reason") and value in titles.OUTCOMES:
        return titles.title(titles.OUTCOMES, value, gettext)
    if key in ("verdict", "decision", "answer"):
        return titles.title(titles.VERDICTS, value, gettext)
    if key in ("code", "ground"):
        found = grounds.REFUSAL_GROUNDS.get(value) or grounds.REVOCATION_GROUNDS.get(value)
        return gettext(found.title) if found else titles.title(titles.OUTCOMES, value, gettext)
    if key == "check":
        return titles.title(titles.CHECKS, value, gettext)
    if key in ("title", "legal_basis", "name"):
        translated = gettext(value)  # a registry's English text is a message id of the catalogue
        return translated if translated != value else None
    if key == "region" and value in current_app.config["REGIONS"]:
        return region_name(value)
    if key in ("kind",):
        return titles.title(titles.KINDS, value, gettext)
    if key in ("status",):
        return titles.title(titles.STATUSES, value, gettext)
    if key in ("channel",):
        return titles.title(titles.CHANNELS, value, gettext)
    if key in ("process_id", "procedure"):
        return titles.title(titles.PROCEDURES, value, gettext)
    return None


@bp.app_template_filter("country")
def country(code) -> str:
    return i18n.country_name(code, _language()) if code else "—"


@bp.app_template_filter("region_name")
def region_name(code) -> str:
    if not code:
        return "—"
    name = current_app.config["REGIONS"].get(code)
    return gettext(name) if name else str(code)


@bp.app_template_filter("ground_title")
def ground_title(code) -> str:
    ground = grounds.REFUSAL_GROUNDS.get(code) or grounds.REVOCATION_GROUNDS.get(code)
    return gettext(ground.title) if ground else code_words(code)


@bp.app_template_filter("title_of")
def title_of(code, table: str) -> str:
    """`{{ outcome.code|title_of('OUTCOMES') }}`: a code's title from a table of handlers.titles."""
    if code in (None, ""):
        return "—"
    return titles.title(getattr(titles, table), code, gettext) or code_words(code)


@bp.app_template_filter("step")
def step(name) -> str:
    """A step's name from its diagram, in the officer's language (the diagrams are in English)."""
    return gettext(str(name)) if name else "—"


@bp.app_template_filter("number")
def number(value, key=None) -> str:
    """A number in the officer's locale: 103801 -> "103 801" (a year stays 2026)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if key in PLAIN_NUMBER_KEYS or (isinstance(key, str) and key.endswith("_id")):
        return str(value)
    return format_decimal(value)


def formula(text: str) -> str:
    """The tax formula as handlers/tax.py writes it, with its units in the officer's language."""
    return (text.replace("month(s)", gettext("month(s)")).replace("MCI", gettext("MCI"))
            .replace("KZT", gettext("KZT")))


@bp.app_template_filter("actor")
def actor(name) -> str:
    """Who acted: a person's user name as it is, a service by its title."""
    return titles.title(titles.ACTORS, name, gettext) or (name or "—")


@bp.app_template_filter("rule_words")
def rule_words(rule) -> str:
    """A deadline rule as words: "2 working days, the filing day not counted, to the end of the day"."""
    if not rule:
        return "—"
    try:
        parsed = parse_rule(rule)
    except ValueError:
        return str(rule)
    args = parsed.arguments
    if parsed.function == "working_days":
        parts = [ngettext("%(num)d working day", "%(num)d working days", args["n"])]
        parts.append(gettext("the filing day not counted") if args.get("exclude_start")
                     else gettext("the filing day counted"))
        if args.get("end_of_day"):
            parts.append(gettext("to the end of the last day"))
        return ", ".join(parts)
    if parsed.function == "local_time_on":
        if args.get("of"):
            return gettext("at %(time)s on the day of the deadline “%(deadline)s”", time=args["hhmm"],
                           deadline=title_of(args["of"], "DEADLINES"))
        return gettext("at %(time)s", time=args["hhmm"])
    if parsed.function == "end_of_day":
        return gettext("to the end of the day")
    return str(rule)


def translated_diagram(bpmn_xml: str) -> bytes:
    """The diagram with its element names in the officer's language (the file's are English),
    for the viewer; the XML is our own deployed file, parsed without entities or network."""
    from lxml import etree
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(bpmn_xml.encode("utf-8") if isinstance(bpmn_xml, str) else bpmn_xml, parser)
    for element in root.iter():
        name = element.get("name") if isinstance(element.tag, str) else None
        if name:
            element.set("name", gettext(name))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@bp.app_template_filter("days_left")
def days_left_words(days) -> str:
    return ngettext("%(num)d working day", "%(num)d working days", days)


def _language() -> str:
    from web.i18n import current_language
    return current_language()


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
