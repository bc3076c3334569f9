"""Deadlines as data: a rule, its inputs, the calendar that computed it, and the due time.

A rule is a short text a diagram or configuration can carry, parsed with `ast` against a
fixed set of call forms (never evaluated):

    working_days(n, exclude_start=True, end_of_day=True)
        n working days after the start day. exclude_start=True: the start day (filing
        day) is not counted; False: the start day counts as the first if it is a working
        day. end_of_day=True: due at 23:59:59 local on that day; False: due at the start's
        local clock time on that day (needs a start with a time).
        working_days(0) is the end of the start day itself.
    local_time_on("HH:MM", of="name")
        HH:MM local on the start's local day; the start is normally the record of the
        deadline named by `of` (e.g. the 09:00 reminder on the decision deadline's day).
    end_of_day()
        23:59:59 local on the start's local day (e.g. a permit valid until its valid_to).

A record is JSON-serializable. `due_at` is ISO 8601 in the calendar's zone with its offset
(Asia/Almaty: +05:00), as officers read it; `due_at_utc` is the same instant in UTC, as
stored and compared.

Diagrams compute deadlines with the service-task operator `deadlines.compute` (the calendar
in force, `engine.calendar.current_calendar()`), which keeps each record in the case data as
`deadlines[name]`; timers and human tasks read their due time from there.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as time_of_day

from engine import clock
from engine.calendar import WorkingCalendar, current_calendar, parse_hhmm
from engine.operators import operator

MAX_RULE_LENGTH = 200
MAX_WORKING_DAYS = 1000
_REQUIRED = object()
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Each rule form: its parameters in order, with type and default.
RULE_FORMS = {
    "working_days": (("n", int, _REQUIRED), ("exclude_start", bool, True), ("end_of_day", bool, True)),
    "local_time_on": (("hhmm", str, _REQUIRED), ("of", str, None)),
    "end_of_day": (),
}


@dataclass(frozen=True)
class Rule:
    function: str
    arguments: dict = field(default_factory=dict)

    def __str__(self) -> str:
        """The canonical text: every parameter spelled out, the first one positional."""
        parts = []
        for index, (name, _type, _default) in enumerate(RULE_FORMS[self.function]):
            value = self.arguments[name]
            if value is None:
                continue
            text = json.dumps(value) if isinstance(value, str) else repr(value)
            parts.append(text if index == 0 else f"{name}={text}")
        return f"{self.function}({', '.join(parts)})"


def parse_rule(rule: str) -> Rule:
    """Parse a rule text into a `Rule`; anything but the known call forms with literal
    arguments is refused with a ValueError that names the problem."""
    if not isinstance(rule, str):
        raise ValueError(f"deadline rule must be a string, got {type(rule).__name__}")
    if len(rule) > MAX_RULE_LENGTH:
        raise ValueError(f"deadline rule is longer than {MAX_RULE_LENGTH} characters")
    try:
        tree = ast.parse(rule.strip(), mode="eval")
    except SyntaxError as error:
        raise ValueError(f"deadline rule {rule!r} is not a rule expression: {error.msg}") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ValueError(f"deadline rule {rule!r} must be a call of one of: {_known_forms()}")
    function = call.func.id
    if function not in RULE_FORMS:
        raise ValueError(f"deadline rule {rule!r}: unknown rule {function!r}; "
                         f"known rules: {_known_forms()}")
    arguments = _bind_arguments(rule, function, call)
    _check_values(rule, function, arguments)
    return Rule(function, arguments)


def compute_deadline(name: str, rule: str, start, calendar: WorkingCalendar) -> dict:
    """Compute a deadline and return its record (JSON-serializable).

    `start` is a date (a filing day), an aware datetime, an ISO 8601 string of either, or
    another deadline's record (then its due time is the start).
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"deadline name must be a short identifier, got {name!r}")
    parsed = parse_rule(rule)
    inputs = {"rule": parsed.function, **parsed.arguments}
    if isinstance(start, Mapping):
        of = parsed.arguments.get("of")
        if of is not None and of != start.get("name"):
            raise ValueError(f"deadline rule {rule!r} is of {of!r}, "
                             f"but the start is the deadline {start.get('name')!r}")
        if not start.get("due_at"):
            raise ValueError("a deadline record given as start has no due_at")
        inputs["start_from_deadline"] = start.get("name")
        start = start["due_at"]
    start_value = _start_value(start)
    start_date = calendar.local_date(start_value)
    inputs["start_date"] = start_date.isoformat()
    if isinstance(start_value, datetime):
        inputs["start_local"] = start_value.astimezone(calendar.tz).isoformat()

    due = _due_at(parsed, start_value, start_date, calendar)
    return {
        "name": name,
        "rule": str(parsed),
        "start": start_value.isoformat(),
        "inputs": inputs,
        "calendar_version": calendar.version,
        "timezone": calendar.tz.key,
        "due_date": due.date().isoformat(),
        "due_at": due.isoformat(),
        "due_at_utc": clock.as_utc(due).isoformat(),
        "computed_at": clock.now().isoformat(),
    }


@operator("deadlines.compute")
def compute(ctx, name: str, rule: str, start=None, of: str | None = None) -> dict:
    """The service-task operator: a deadline computed with the calendar in force.

    `start` is a filing day, an aware time or a deadline record; `of` instead names a deadline
    already in the case data as the start (the reminder on the decision's day). Without
    either, the start is now. The record is returned (for `resultVariable`) and also kept
    as `deadlines[name]` in the task data, where timers (`timeDate`
    `deadlines['decision']['due_at_utc']`) and human tasks (property `deadline`) find it.
    """
    known = ctx.data.get("deadlines") or {}
    if of is not None:
        if start is not None:
            raise ValueError("give the deadline either a start or the deadline it is 'of', not both")
        if not isinstance(known.get(of), Mapping):
            raise ValueError(f"no deadline {of!r} in the case data to start from")
        start = known[of]
    record = compute_deadline(name, rule, start if start is not None else ctx.now(),
                              current_calendar(ctx.config, ctx.session))
    ctx.data["deadlines"] = {**known, name: record}  # task data is this task's own dict
    return record


@operator("deadlines.close", pure=True)
def close(ctx, name: str, met: bool | None = None) -> dict:
    """The service-task operator: the thing a deadline waited for has happened (or never will).

    `met` defaults to whether now is within the due time. The record in `deadlines[name]`
    gains `met` and `closed_at`, so the case shows later whether each term was kept.
    """
    known = ctx.data.get("deadlines") or {}
    if not isinstance(known.get(name), Mapping):
        raise ValueError(f"no deadline {name!r} in the case data to close")
    record = close_record(known[name], ctx.now(), met)
    ctx.data["deadlines"] = {**known, name: record}
    return record


def close_record(record: Mapping, at: datetime, met: bool | None = None) -> dict:
    """A copy of `record` closed at `at`: met when `at` is within the due time (unless told)."""
    if record.get("closed_at"):
        return dict(record)  # the first closing is the one that counts
    return {**record, "met": deadline_met(record, at) if met is None else bool(met),
            "closed_at": clock.as_utc(at).isoformat()}


def reminder_at(record: Mapping, hhmm: str, calendar: WorkingCalendar, name: str | None = None) -> dict:
    """The record of a reminder at local time hhmm on the day the given deadline is due."""
    rule = f"local_time_on({json.dumps(hhmm)}, of={json.dumps(record['name'])})"
    return compute_deadline(name or f"{record['name']}_reminder", rule, record, calendar)


def due_at(record: Mapping) -> datetime:
    """The due time of a record, as an aware UTC datetime."""
    return clock.as_utc(_aware(record["due_at_utc"], "deadline due time"))


def deadline_met(record: Mapping, at: datetime) -> bool:
    """Whether something done at `at` meets the deadline: at or before the due instant."""
    if not isinstance(at, datetime):
        raise ValueError(f"deadline_met needs an aware datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"naive datetime {at.isoformat()} refused: cannot compare it with a deadline")
    return at <= due_at(record)


def explain(record: Mapping, calendar: WorkingCalendar) -> list[str]:
    """How the due time follows from the rule: the days counted and the days skipped, why."""
    inputs = record["inputs"]
    start_date = date.fromisoformat(inputs["start_date"])
    due_date = date.fromisoformat(record["due_date"])
    lines = [f"{record['name']}: {record['rule']}, start {record['start']} "
             f"({_day(start_date)}), calendar {record['calendar_version']}"]
    if inputs["rule"] == "working_days":
        first = start_date if not inputs["exclude_start"] else start_date + timedelta(days=1)
        if inputs["exclude_start"]:
            lines.append(f"{_day(start_date)}: start day, not counted")
        counted = 0
        for day in _days_from(first, due_date):
            if calendar.is_working_day(day):
                counted += 1
                lines.append(f"{_day(day)}: working day {counted} of {inputs['n']}")
            else:
                lines.append(f"{_day(day)}: skipped, {calendar.why(day)}")
    elif inputs["rule"] == "local_time_on":
        source = inputs.get("of") or inputs.get("start_from_deadline")
        of = f" of deadline {source!r}" if source else ""
        lines.append(f"{inputs['hhmm']} local on the due day{of}, {_day(due_date)} ({calendar.why(due_date)})")
    else:
        lines.append(f"end of the start day, {_day(due_date)} ({calendar.why(due_date)})")
    lines.append(f"due {record['due_at']} ({record['timezone']}) = {record['due_at_utc']}")
    lines.extend(_recheck(record, calendar))
    return lines


# --- helpers -------------------------------------------------------------------------------

def _known_forms() -> str:
    return ", ".join(sorted(RULE_FORMS))


def _bind_arguments(rule: str, function: str, call: ast.Call) -> dict:
    params = RULE_FORMS[function]
    names = [name for name, _type, _default in params]
    if len(call.args) > len(params):
        raise ValueError(f"deadline rule {rule!r}: {function} takes at most {len(params)} "
                         f"positional arguments ({', '.join(names) or 'none'})")
    bound = {}
    for (param, _type, _default), node in zip(params, call.args):
        bound[param] = _literal(rule, param, node)
    for keyword in call.keywords:
        if keyword.arg is None:
            raise ValueError(f"deadline rule {rule!r}: '**' arguments are not allowed")
        if keyword.arg not in names:
            raise ValueError(f"deadline rule {rule!r}: {function} has no parameter {keyword.arg!r}")
        if keyword.arg in bound:
            raise ValueError(f"deadline rule {rule!r}: parameter {keyword.arg!r} given twice")
        bound[keyword.arg] = _literal(rule, keyword.arg, keyword.value)
    for param, _type, default in params:
        if param not in bound:
            if default is _REQUIRED:
                raise ValueError(f"deadline rule {rule!r}: {function} needs {param!r}")
            bound[param] = default
    return bound


def _literal(rule: str, param: str, node: ast.AST):
    if isinstance(node, ast.Starred):
        raise ValueError(f"deadline rule {rule!r}: '*' arguments are not allowed")
    if not isinstance(node, ast.Constant):
        raise ValueError(f"deadline rule {rule!r}: {param!r} must be a literal value, "
                         f"not {type(node).__name__}")
    return node.value


def _check_values(rule: str, function: str, arguments: dict) -> None:
    for param, expected, default in RULE_FORMS[function]:
        value = arguments[param]
        if value is None and default is None:
            continue
        # bool is an int in Python; working_days(True) is a mistake, not 1.
        if type(value) is not expected:
            raise ValueError(f"deadline rule {rule!r}: {param!r} must be {expected.__name__}, "
                             f"got {value!r}")
    if function == "working_days":
        n = arguments["n"]
        if not 0 <= n <= MAX_WORKING_DAYS:
            raise ValueError(f"deadline rule {rule!r}: n must be between 0 and {MAX_WORKING_DAYS}")
        if n == 0 and not arguments["exclude_start"]:
            raise ValueError(f"deadline rule {rule!r}: counting the start day needs n >= 1")
    if function == "local_time_on":
        try:
            parse_hhmm(arguments["hhmm"])
        except ValueError as error:
            raise ValueError(f"deadline rule {rule!r}: {error}") from None
        if arguments["of"] is not None and not _NAME.match(arguments["of"]):
            raise ValueError(f"deadline rule {rule!r}: 'of' must name a deadline")


def _start_value(start) -> date | datetime:
    if isinstance(start, datetime):
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"deadline start without a time zone: {start.isoformat()}")
        return start
    if isinstance(start, date):
        return start
    if isinstance(start, str):
        text = start.strip()
        if _DATE_ONLY.match(text):
            return date.fromisoformat(text)
        return _aware(text, "deadline start")
    raise ValueError(f"deadline start must be a date, an aware datetime or an ISO string, "
                     f"got {type(start).__name__}")


def _aware(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not an ISO 8601 date or time") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} without a time zone: {text!r}")
    return value


def _due_at(parsed: Rule, start: date | datetime, start_date: date,
            calendar: WorkingCalendar) -> datetime:
    args = parsed.arguments
    if parsed.function == "working_days":
        # Counting the start day = counting from the day before it.
        origin = start_date if args["exclude_start"] else start_date - timedelta(days=1)
        due_date = calendar.add_working_days(origin, args["n"])
        if args["end_of_day"]:
            return calendar.end_of_day(due_date)
        if not isinstance(start, datetime):
            raise ValueError("working_days(..., end_of_day=False) needs a start with a time of day")
        local = start.astimezone(calendar.tz)
        return calendar.at_local_time(due_date, time_of_day(local.hour, local.minute, local.second))
    if parsed.function == "local_time_on":
        return calendar.at_local_time(start_date, args["hhmm"])
    return calendar.end_of_day(start_date)


def _days_from(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _day(d: date) -> str:
    return d.strftime("%a %d.%m.%Y")


def _recheck(record: Mapping, calendar: WorkingCalendar) -> list[str]:
    # A deadline is defended with the calendar that computed it; say when today's differs.
    if record["calendar_version"] == calendar.version:
        return []
    lines = [f"note: computed with calendar {record['calendar_version']}, "
             f"explained with calendar {calendar.version}"]
    start = record["start"]
    try:
        again = compute_deadline(record["name"], record["rule"], start, calendar)
    except ValueError as error:
        return lines + [f"note: the current calendar cannot recompute it: {error}"]
    if again["due_at_utc"] != record["due_at_utc"]:
        lines.append(f"note: the current calendar would give {again['due_at']}")
    return lines
