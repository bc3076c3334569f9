"""Permit durations: whole months, the last day, and the cap with extensions (docs/law.md §4)."""
from datetime import date

import pytest
from hypothesis import given, strategies as st

from handlers.durations import as_date, check_months, extension_check, months_between, valid_to

CONFIG = {"PERMIT_MIN_MONTHS": 1, "PERMIT_MAX_MONTHS": 12}


@pytest.mark.parametrize("valid_from, months, last_day", [
    (date(2026, 1, 1), 12, date(2026, 12, 31)),
    (date(2026, 3, 15), 1, date(2026, 4, 14)),
    (date(2026, 3, 1), 1, date(2026, 3, 31)),
    (date(2026, 11, 20), 3, date(2027, 2, 19)),
    (date(2026, 3, 20), 12, date(2027, 3, 19)),
    (date(2027, 2, 28), 12, date(2028, 2, 27)),  # 28 Feb exists in leap 2028 too
])
def test_permit_ends_the_day_before_the_same_date_n_months_later(valid_from, months, last_day):
    assert valid_to(valid_from, months) == last_day


@pytest.mark.parametrize("valid_from, months, last_day", [
    (date(2026, 1, 31), 1, date(2026, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 1, 30), 1, date(2026, 2, 28)),
    (date(2026, 1, 29), 1, date(2026, 2, 28)),
    (date(2028, 1, 29), 1, date(2028, 2, 28)),
    (date(2026, 3, 31), 1, date(2026, 4, 30)),
    (date(2025, 12, 31), 2, date(2026, 2, 28)),
])
def test_permit_whose_last_month_lacks_the_start_day_ends_on_that_months_last_day(
        valid_from, months, last_day):
    assert valid_to(valid_from, months) == last_day


def test_valid_to_reads_iso_dates_from_task_data():
    assert valid_to("2026-01-31", 1) == date(2026, 2, 28)


def test_a_datetime_is_not_taken_for_a_day():
    from datetime import datetime
    with pytest.raises(TypeError):
        as_date(datetime(2026, 1, 1, 12, 0))


def test_months_between_counts_a_started_month_as_whole():
    assert months_between(date(2026, 1, 1), date(2026, 12, 31)) == 12
    assert months_between(date(2026, 1, 1), date(2026, 1, 1)) == 1
    assert months_between(date(2026, 1, 1), date(2026, 2, 1)) == 2
    assert months_between(date(2026, 1, 31), date(2026, 2, 28)) == 1


def test_months_between_refuses_a_period_ending_before_it_starts():
    with pytest.raises(ValueError):
        months_between(date(2026, 2, 1), date(2026, 1, 31))


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       st.integers(min_value=1, max_value=36))
def test_months_between_undoes_valid_to(valid_from, months):
    assert months_between(valid_from, valid_to(valid_from, months)) == months


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       st.integers(min_value=1, max_value=24))
def test_one_more_month_always_ends_later_and_never_less_than_28_days_later(valid_from, months):
    shorter, longer = valid_to(valid_from, months), valid_to(valid_from, months + 1)
    assert 28 <= (longer - shorter).days <= 31


@pytest.mark.parametrize("months", [1, 6, 12])
def test_one_to_twelve_whole_months_are_allowed(months):
    assert check_months(months, CONFIG) == {"ok": True, "months": months, "min_months": 1,
                                            "max_months": 12, "problems": []}


@pytest.mark.parametrize("months, problem", [
    (0, "from 1 to 12, not 0"), (13, "from 1 to 12, not 13"), (-3, "from 1 to 12, not -3"),
    (1.5, "whole number"), (6.0, "whole number"), ("6", "whole number"), (True, "whole number"),
    (None, "whole number"),
])
def test_months_outside_one_to_twelve_or_not_whole_are_a_malformed_request(months, problem):
    result = check_months(months, CONFIG)
    assert result["ok"] is False
    assert problem in result["problems"][0]


def test_month_range_comes_from_configuration():
    assert check_months(13, {"PERMIT_MIN_MONTHS": 1, "PERMIT_MAX_MONTHS": 24})["ok"] is True


def test_extension_within_twelve_months_moves_valid_to_forward():
    result = extension_check(date(2026, 1, 1), date(2026, 6, 30), 6, 12)
    assert result["ok"] is True
    assert result["current_months"] == 6 and result["total_months"] == 12
    assert result["new_valid_to"] == "2026-12-31"
    assert result["grounds"] == []


def test_extension_is_counted_from_the_permits_first_day():
    # 31 Jan + 1 month ends 28 Feb; +1 more is "31 Jan + 2 months", ending 30 March.
    result = extension_check("2026-01-31", "2026-02-28", 1, 12)
    assert result["current_months"] == 1
    assert result["new_valid_to"] == "2026-03-30"


def test_extension_beyond_twelve_months_in_total_is_refused_as_stay_limit_exceeded():
    result = extension_check(date(2026, 1, 1), date(2026, 9, 30), 4, 12)
    assert result["ok"] is False
    assert result["total_months"] == 13
    [ground] = result["grounds"]
    assert ground["code"] == "stay_limit_exceeded"
    assert ground["check"] == "durations.extension_total"
    assert "9 month(s) from 01.01.2026 to 30.09.2026" in ground["evidence"]
    assert "would make 13" in ground["evidence"]
    assert "12 months" in ground["evidence"]
    assert (ground["current_months"], ground["total_months"]) == (9, 13)


def test_permit_already_at_the_cap_cannot_be_extended_by_one_month():
    assert extension_check(date(2026, 1, 1), date(2026, 12, 31), 1, 12)["ok"] is False


def test_a_partly_used_month_counts_whole_against_the_cap():
    # A permit ending mid-month (data from elsewhere) has started its seventh month.
    result = extension_check(date(2026, 1, 1), date(2026, 7, 15), 5, 12)
    assert result["current_months"] == 7
    assert result["ok"] is True
    assert extension_check(date(2026, 1, 1), date(2026, 7, 15), 6, 12)["ok"] is False


@pytest.mark.parametrize("additional", [0, -1, 1.5])
def test_extension_needs_at_least_one_whole_month(additional):
    with pytest.raises(ValueError):
        extension_check(date(2026, 1, 1), date(2026, 6, 30), additional, 12)
