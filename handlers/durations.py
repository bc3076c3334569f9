"""Permit durations: whole months, the last day of validity, and the cap on extensions.

How a period of N months ends (docs/law.md §4, "valid_from + N months − 1 day"):
the permit ends the day before the same day of the month N months later; when that month
has no such day (a permit from 31 January for one month), it ends on that month's last day
(28 or 29 February). This follows the Civil Code's rule for periods counted in months
("if the month has no corresponding date, the period ends on its last day") and never gives
the applicant less than the months paid for; simple clamping (31 Jan + 1 month = 28 Feb,
minus one day = 27 Feb) would lose a day.

An extension is computed from the permit's first day, so one permit is always "valid_from +
N months" whatever the number of extensions (N = months before + additional months).
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from .grounds import make_ground


def valid_to(valid_from: date, months: int) -> date:
    """The last day of a permit valid from `valid_from` for `months` whole months."""
    valid_from = as_date(valid_from)
    if not _is_whole(months) or months < 0:
        raise ValueError(f"months must be a whole number ≥ 0, not {months!r}")
    if months == 0:
        return valid_from - timedelta(days=1)
    year, month = _shift_month(valid_from.year, valid_from.month, months)
    last_day = calendar.monthrange(year, month)[1]
    if valid_from.day > last_day:
        # The month has no such day: the period ends on its last day.
        return date(year, month, last_day)
    return date(year, month, valid_from.day) - timedelta(days=1)


def months_between(start: date, end: date) -> int:
    """Whole months in the period from `start` to `end` inclusive; a started month counts whole.

    The inverse of `valid_to`: months_between(d, valid_to(d, n)) == n.
    """
    start, end = as_date(start), as_date(end)
    if end < start:
        raise ValueError(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    # Start just below the calendar-month difference, then step up: at most a few steps.
    months = max(1, (end.year - start.year) * 12 + end.month - start.month - 1)
    while valid_to(start, months) < end:
        months += 1
    while months > 1 and valid_to(start, months - 1) >= end:
        months -= 1
    return months


def months_range(config: Mapping[str, Any]) -> tuple[int, int]:
    """The shortest and longest permit, in whole months (PERMIT_MIN_MONTHS, PERMIT_MAX_MONTHS)."""
    return int(config["PERMIT_MIN_MONTHS"]), int(config["PERMIT_MAX_MONTHS"])


def check_months(months: Any, config: Mapping[str, Any]) -> dict:
    """Is `months` a permit length the law allows (PERMIT_MIN_MONTHS..PERMIT_MAX_MONTHS, whole)?

    The one place this rule is written: the API's schema and the permit register both ask it.
    A length outside the range makes the request malformed (docs/law.md §8), so this gives
    problems for the API to report, not a refusal ground.
    """
    minimum, maximum = months_range(config)
    problems = []
    if not _is_whole(months):
        problems.append(f"months must be a whole number, not {months!r}")
    elif not minimum <= months <= maximum:
        problems.append(f"months must be from {minimum} to {maximum}, not {months}")
    return {"ok": not problems, "months": months if _is_whole(months) else None,
            "min_months": minimum, "max_months": maximum, "problems": problems}


def extension_check(current_from: date, current_to: date, additional_months: int,
                    max_total_months: int) -> dict:
    """Does extending the permit by `additional_months` keep its total within the cap?

    Returns the new `valid_to` either way, so the officer sees what was asked for.
    """
    current_from, current_to = as_date(current_from), as_date(current_to)
    if not _is_whole(additional_months) or additional_months < 1:
        raise ValueError(f"additional months must be a whole number ≥ 1, not {additional_months!r}")
    current_months = months_between(current_from, current_to)
    total = current_months + additional_months
    new_valid_to = valid_to(current_from, total)
    grounds = []
    if total > max_total_months:
        grounds.append(make_ground(
            "stay_limit_exceeded", "durations.extension_total",
            f"The permit runs {current_months} month(s) from {_dmy(current_from)} to "
            f"{_dmy(current_to)}; {additional_months} more month(s) would make {total}, "
            f"more than the {max_total_months} months a permit may last with its extensions.",
            current_months=current_months, additional_months=additional_months,
            total_months=total, max_total_months=max_total_months))
    return {
        "ok": not grounds,
        "current_from": current_from.isoformat(),
        "current_to": current_to.isoformat(),
        "current_months": current_months,
        "additional_months": additional_months,
        "total_months": total,
        "max_total_months": max_total_months,
        "new_valid_to": new_valid_to.isoformat(),
        "grounds": grounds,
    }


def as_date(value: Any) -> date:
    """A date from a `date` or an ISO string ("2026-03-20"), as task data holds them."""
    if isinstance(value, datetime):
        # A datetime is a date subclass; a permit's days are calendar days, so refuse the ambiguity.
        raise TypeError(f"expected a date, not a datetime: {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value)
    raise TypeError(f"expected a date or an ISO date string, not {value!r}")


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def _is_whole(value: Any) -> bool:
    # bool is an int subclass; True is not "1 month".
    return isinstance(value, int) and not isinstance(value, bool)


def _dmy(day: date) -> str:
    return day.strftime("%d.%m.%Y")
