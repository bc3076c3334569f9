"""The working-day calendar against the Kazakh calendar of 2025-2026, checked by hand.

Weekdays used below (1 January 2025 is a Wednesday, 1 January 2026 a Thursday):
2025 month starts: Feb Sat, Mar Sat, Apr Tue, May Thu, Jun Sun, Jul Tue, Aug Fri, Sep Mon,
Oct Wed, Nov Sat, Dec Mon. 2026 month starts: Feb Sun, Mar Sun, Apr Wed, May Fri, Jun Mon,
Jul Wed, Aug Sat, Sep Tue, Oct Thu, Nov Sun, Dec Tue.
Law on holidays: a holiday on a Saturday or Sunday moves to the next working day, except
Orthodox Christmas and Kurban Ait. Deadlines count working days after the filing day.
"""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calendar import WorkingCalendar, calendar_for_country

ALMATY = ZoneInfo("Asia/Almaty")
UTC = timezone.utc
KZ = calendar_for_country("KZ", "Asia/Almaty")


# (filed, working days, due day) -- each line checked by counting on the month grids above.
HAND_CHECKED = [
    # Weekends.
    pytest.param(date(2025, 11, 14), 1, date(2025, 11, 17), id="fri-14-nov-2025-plus-1-is-monday-17"),
    pytest.param(date(2025, 11, 13), 2, date(2025, 11, 17), id="thu-13-nov-2025-plus-2-skips-weekend-to-monday-17"),
    pytest.param(date(2026, 2, 2), 5, date(2026, 2, 9), id="mon-2-feb-2026-plus-5-is-next-monday-9"),
    pytest.param(date(2026, 2, 7), 1, date(2026, 2, 9), id="filed-saturday-7-feb-2026-plus-1-is-monday-9"),
    pytest.param(date(2026, 2, 8), 2, date(2026, 2, 10), id="filed-sunday-8-feb-2026-plus-2-is-tuesday-10"),
    # Nauryz 21-23 March; 2026: Sat 21 and Sun 22 move to Tue 24 and Wed 25.
    pytest.param(date(2026, 3, 20), 2, date(2026, 3, 27), id="fri-20-mar-2026-before-nauryz-plus-2-is-fri-27"),
    pytest.param(date(2026, 3, 20), 1, date(2026, 3, 26), id="fri-20-mar-2026-plus-1-is-thu-26-after-nauryz"),
    pytest.param(date(2026, 3, 19), 3, date(2026, 3, 27), id="thu-19-mar-2026-plus-3-is-fri-27"),
    # Nauryz 2025: Fri 21, Sat 22, Sun 23; the weekend days move to Mon 24 and Tue 25.
    pytest.param(date(2025, 3, 20), 1, date(2025, 3, 26), id="thu-20-mar-2025-plus-1-is-wed-26-after-nauryz"),
    # Constitution Day moves to 15 March only from 2027: Sunday 15 March 2026 is an ordinary Sunday.
    pytest.param(date(2026, 3, 13), 1, date(2026, 3, 16), id="fri-13-mar-2026-plus-1-is-mon-16-no-holiday-on-15-march"),
    # Orthodox Christmas 7 January: 2026 Wednesday, 2025 Tuesday.
    pytest.param(date(2026, 1, 6), 1, date(2026, 1, 8), id="tue-6-jan-2026-plus-1-skips-christmas-to-thu-8"),
    pytest.param(date(2025, 1, 6), 1, date(2025, 1, 8), id="mon-6-jan-2025-plus-1-skips-christmas-to-wed-8"),
    # New Year 1-2 January.
    pytest.param(date(2025, 12, 31), 1, date(2026, 1, 5), id="wed-31-dec-2025-plus-1-skips-new-year-to-mon-5-jan"),
    pytest.param(date(2025, 12, 26), 5, date(2026, 1, 6), id="fri-26-dec-2025-plus-5-across-new-year-is-tue-6-jan"),
    # 2025 decree: day off Fri 3 January, worked on Sunday 5 January.
    pytest.param(date(2024, 12, 31), 1, date(2025, 1, 5), id="tue-31-dec-2024-plus-1-is-working-sunday-5-jan-2025"),
    pytest.param(date(2024, 12, 31), 2, date(2025, 1, 6), id="tue-31-dec-2024-plus-2-is-mon-6-jan-2025"),
    # 8 March: 2025 Saturday -> Monday 10; 2026 Sunday -> Monday 9.
    pytest.param(date(2025, 3, 7), 1, date(2025, 3, 11), id="fri-7-mar-2025-plus-1-is-tue-11-women-day-moved"),
    pytest.param(date(2026, 3, 6), 1, date(2026, 3, 10), id="fri-6-mar-2026-plus-1-is-tue-10-women-day-moved"),
    # 1, 7 and 9 May.
    pytest.param(date(2026, 4, 30), 1, date(2026, 5, 4), id="thu-30-apr-2026-plus-1-skips-fri-1-may-to-mon-4"),
    pytest.param(date(2026, 5, 6), 2, date(2026, 5, 12), id="wed-6-may-2026-plus-2-skips-7-may-and-victory-day-moved-to-11"),
    pytest.param(date(2025, 4, 30), 1, date(2025, 5, 2), id="wed-30-apr-2025-plus-1-skips-thu-1-may-to-fri-2"),
    pytest.param(date(2025, 5, 6), 2, date(2025, 5, 12), id="tue-6-may-2025-plus-2-skips-7-and-9-may-to-mon-12"),
    # Capital Day 6 July: 2025 Sunday -> Monday 7; 2026 Monday.
    pytest.param(date(2025, 7, 4), 1, date(2025, 7, 8), id="fri-4-jul-2025-plus-1-is-tue-8-capital-day-moved"),
    pytest.param(date(2026, 7, 3), 1, date(2026, 7, 7), id="fri-3-jul-2026-plus-1-is-tue-7-capital-day-monday"),
    # Constitution Day 30 August: 2025 Saturday -> Monday 1 September; not a holiday in 2026.
    pytest.param(date(2025, 8, 29), 1, date(2025, 9, 2), id="fri-29-aug-2025-plus-1-is-tue-2-sep-constitution-day-moved"),
    pytest.param(date(2026, 8, 28), 1, date(2026, 8, 31), id="fri-28-aug-2026-plus-1-is-mon-31-no-constitution-day-2026"),
    # Republic Day 25 October: 2025 Saturday -> Monday 27; 2026 Sunday -> Monday 26.
    pytest.param(date(2025, 10, 24), 1, date(2025, 10, 28), id="fri-24-oct-2025-plus-1-is-tue-28-republic-day-moved"),
    pytest.param(date(2026, 10, 23), 1, date(2026, 10, 27), id="fri-23-oct-2026-plus-1-is-tue-27-republic-day-moved"),
    # Independence Day 16 December (one day since 2022): 2025 Tuesday, 2026 Wednesday.
    pytest.param(date(2025, 12, 15), 1, date(2025, 12, 17), id="mon-15-dec-2025-plus-1-is-wed-17"),
    pytest.param(date(2026, 12, 15), 1, date(2026, 12, 17), id="tue-15-dec-2026-plus-1-is-thu-17"),
    # Kurban Ait: 2025 Friday 6 June; 2026 Wednesday 27 May (the package marks it estimated).
    pytest.param(date(2025, 6, 5), 1, date(2025, 6, 9), id="thu-5-jun-2025-plus-1-skips-kurban-ait-to-mon-9"),
    pytest.param(date(2026, 5, 26), 1, date(2026, 5, 28), id="tue-26-may-2026-plus-1-skips-kurban-ait-to-thu-28"),
    # Not moved from a weekend: Christmas on Sunday 7 January 2024, Kurban Ait on Sunday 16 June 2024.
    pytest.param(date(2024, 1, 5), 1, date(2024, 1, 8), id="christmas-on-sunday-2024-is-not-moved-mon-8-jan-works"),
    pytest.param(date(2024, 6, 14), 1, date(2024, 6, 17), id="kurban-ait-on-sunday-2024-is-not-moved-mon-17-jun-works"),
]


@pytest.mark.parametrize("filed, n, due", HAND_CHECKED)
def test_working_days_after_filing_in_the_kazakh_calendar(filed, n, due):
    assert KZ.add_working_days(filed, n) == due
    assert KZ.is_working_day(due)
    assert KZ.working_days_between(filed, due) == n


def test_filed_friday_before_nauryz_plus_two_working_days_ends_friday_27_march():
    due_day = KZ.add_working_days(date(2026, 3, 20), 2)
    assert due_day == date(2026, 3, 27)
    assert KZ.end_of_day(due_day).isoformat() == "2026-03-27T23:59:59+05:00"


@pytest.mark.parametrize("day, working", [
    (date(2026, 3, 21), False),  # Saturday and Nauryz
    (date(2026, 3, 23), False),  # Monday, Nauryz
    (date(2026, 3, 24), False),  # Nauryz of Saturday 21, moved
    (date(2026, 3, 25), False),  # Nauryz of Sunday 22, moved
    (date(2026, 3, 26), True),
    (date(2026, 1, 7), False),   # Orthodox Christmas, Wednesday
    (date(2024, 1, 8), True),    # Monday after Christmas on a Sunday: not moved
    (date(2025, 1, 3), False),   # day off by the 2025 decree
    (date(2025, 1, 5), True),    # Sunday worked by the 2025 decree
    (date(2025, 8, 30), False),  # Constitution Day, Saturday
    (date(2025, 9, 1), False),   # ... moved to Monday
    (date(2025, 10, 27), False),  # Republic Day of Saturday 25, moved
    (date(2025, 12, 17), True),  # 17 December is no longer a holiday
    (date(2026, 3, 9), False),   # 8 March of Sunday, moved
    (date(2026, 5, 11), False),  # Victory Day of Saturday 9, moved
    (date(2026, 5, 8), True),    # Friday between 7 and 9 May, no transfer decreed
    (date(2026, 8, 31), True),   # no Constitution Day in 2026
    (date(2024, 6, 17), True),   # Monday after Kurban Ait on a Sunday: not moved
    (date(2026, 2, 14), False),  # an ordinary Saturday
])
def test_is_working_day_in_the_kazakh_calendar(day, working):
    assert KZ.is_working_day(day) is working


def test_a_transfer_decreed_for_the_next_year_makes_a_december_saturday_a_working_day():
    # The 2014 decree moved the day off of Saturday 28 December 2013 to Friday 3 January 2014.
    fresh = calendar_for_country("KZ", "Asia/Almaty")
    assert fresh.is_working_day(date(2013, 12, 28))
    assert not fresh.is_working_day(date(2014, 1, 3))


def test_configured_transfer_adds_a_day_off_and_a_working_saturday():
    # A transfer as a decree would give it: off Friday 8 May 2026, worked Saturday 16 May 2026.
    transfer = calendar_for_country("KZ", "Asia/Almaty", {date(2026, 5, 8): False, date(2026, 5, 16): True})
    assert not transfer.is_working_day(date(2026, 5, 8))
    assert transfer.is_working_day(date(2026, 5, 16))
    # Wed 6 May + 2: Thu 7 holiday, Fri 8 transferred, 9-11 off, Tue 12 (1), Wed 13 (2).
    assert transfer.add_working_days(date(2026, 5, 6), 2) == date(2026, 5, 13)
    assert KZ.add_working_days(date(2026, 5, 6), 2) == date(2026, 5, 12)
    # Fri 15 May + 1 is the working Saturday.
    assert transfer.add_working_days(date(2026, 5, 15), 1) == date(2026, 5, 16)
    assert transfer.why(date(2026, 5, 8)) == "day off by transfer"
    assert transfer.why(date(2026, 5, 16)) == "working Saturday by transfer"


def test_override_keys_may_be_iso_strings_from_configuration():
    from_config = calendar_for_country("KZ", "Asia/Almaty", {"2026-05-08": False, "2026-05-16": True})
    from_dates = calendar_for_country("KZ", "Asia/Almaty", {date(2026, 5, 16): True, date(2026, 5, 8): False})
    assert from_config.version == from_dates.version
    assert not from_config.is_working_day(date(2026, 5, 8))


@pytest.mark.parametrize("overrides", [
    {"2026-05-08": "no"},
    {"2026-05-08": 0},
    {"8.5.2026": False},
    {datetime(2026, 5, 8, tzinfo=UTC): False},
    {20260508: False},
])
def test_malformed_override_is_refused(overrides):
    with pytest.raises(ValueError, match="override"):
        calendar_for_country("KZ", "Asia/Almaty", overrides)


def test_override_can_make_a_holiday_a_working_day():
    worked = calendar_for_country("KZ", "Asia/Almaty", {date(2026, 5, 7): True})
    assert worked.is_working_day(date(2026, 5, 7))
    assert worked.why(date(2026, 5, 7)) == "working day by transfer (instead of Defender of the Fatherland Day)"


@pytest.mark.parametrize("day, reason", [
    (date(2026, 2, 14), "weekend"),
    (date(2026, 2, 13), "working day"),
    (date(2026, 1, 7), "Orthodox Christmas"),
    (date(2026, 3, 24), "Nowruz Holiday (observed)"),
    (date(2025, 1, 5), "working Sunday by transfer"),
    (date(2026, 5, 27), "Eid al-Adha (estimated)"),
])
def test_why_a_day_is_or_is_not_a_working_day(day, reason):
    assert KZ.why(day) == reason


def test_working_days_between_counts_after_the_first_day_up_to_and_including_the_second():
    assert KZ.working_days_between(date(2026, 3, 20), date(2026, 3, 27)) == 2
    assert KZ.working_days_between(date(2026, 3, 20), date(2026, 3, 20)) == 0
    assert KZ.working_days_between(date(2026, 3, 20), date(2026, 3, 25)) == 0  # all Nauryz
    assert KZ.working_days_between(date(2025, 11, 13), date(2025, 11, 17)) == 2
    assert KZ.working_days_between(date(2026, 3, 27), date(2026, 3, 20)) == -2


def test_non_working_days_lists_the_days_skipped_with_reasons():
    assert KZ.non_working_days(date(2026, 3, 20), date(2026, 3, 27)) == [
        (date(2026, 3, 21), "Nowruz Holiday"),
        (date(2026, 3, 22), "Nowruz Holiday"),
        (date(2026, 3, 23), "Nowruz Holiday"),
        (date(2026, 3, 24), "Nowruz Holiday (observed)"),
        (date(2026, 3, 25), "Nowruz Holiday (observed)"),
    ]


def test_zero_working_days_is_the_start_day_and_negative_is_refused():
    assert KZ.add_working_days(date(2026, 3, 21), 0) == date(2026, 3, 21)
    with pytest.raises(ValueError, match=">= 0"):
        KZ.add_working_days(date(2026, 3, 20), -1)
    with pytest.raises(ValueError):
        KZ.add_working_days(date(2026, 3, 20), True)


def test_end_of_day_is_23_59_59_in_almaty_which_is_18_59_59_utc():
    end = KZ.end_of_day(date(2026, 3, 27))
    assert end == datetime(2026, 3, 27, 18, 59, 59, tzinfo=UTC)
    assert end.isoformat() == "2026-03-27T23:59:59+05:00"
    assert end.microsecond == 0
    assert end.tzinfo == ALMATY


def test_start_of_day_is_midnight_in_almaty():
    assert KZ.start_of_day(date(2026, 3, 27)) == datetime(2026, 3, 26, 19, 0, 0, tzinfo=UTC)


def test_almaty_is_utc_plus_6_before_march_2024_and_utc_plus_5_since():
    assert KZ.end_of_day(date(2024, 2, 28)).utcoffset() == timedelta(hours=6)
    assert KZ.end_of_day(date(2024, 3, 1)).utcoffset() == timedelta(hours=5)


def test_at_local_time_nine_in_the_morning_is_four_utc():
    assert KZ.at_local_time(date(2026, 3, 27), "09:00") == datetime(2026, 3, 27, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize("hhmm", ["9:00", "24:00", "09:60", "0900", "09:00:00", "", None])
def test_malformed_local_time_is_refused(hhmm):
    with pytest.raises(ValueError, match="HH:MM"):
        KZ.at_local_time(date(2026, 3, 27), hhmm)


@pytest.mark.parametrize("call", [
    lambda: KZ.is_working_day(datetime(2026, 3, 20, 12, 0)),
    lambda: KZ.add_working_days(datetime(2026, 3, 20, 12, 0), 2),
    lambda: KZ.end_of_day(datetime(2026, 3, 20, 12, 0)),
    lambda: KZ.working_days_between(date(2026, 3, 20), datetime(2026, 3, 27, 12, 0)),
    lambda: KZ.why(datetime(2026, 3, 20, 12, 0)),
])
def test_naive_datetime_is_refused(call):
    with pytest.raises(ValueError, match="naive datetime"):
        call()


def test_aware_datetime_counts_on_its_almaty_day():
    # 21:00 UTC on Thursday 19 March is 02:00 on Friday 20 March in Almaty.
    filed = datetime(2026, 3, 19, 21, 0, tzinfo=UTC)
    assert KZ.local_date(filed) == date(2026, 3, 20)
    assert KZ.add_working_days(filed, 2) == date(2026, 3, 27)
    # 20:30 UTC on Friday 20 March is already Saturday 21 March (Nauryz) in Almaty.
    assert not KZ.is_working_day(datetime(2026, 3, 20, 20, 30, tzinfo=UTC))


def test_version_is_short_and_stable_for_the_same_configuration():
    again = calendar_for_country("KZ", "Asia/Almaty")
    assert KZ.version == again.version
    assert len(KZ.version) == 12 and all(c in "0123456789abcdef" for c in KZ.version)


def test_version_changes_when_overrides_change():
    one = calendar_for_country("KZ", "Asia/Almaty", {date(2026, 5, 8): False})
    other = calendar_for_country("KZ", "Asia/Almaty", {date(2026, 5, 8): False, date(2026, 5, 16): True})
    flipped = calendar_for_country("KZ", "Asia/Almaty", {date(2026, 5, 8): True})
    assert len({KZ.version, one.version, other.version, flipped.version}) == 4


def test_version_changes_with_time_zone_and_country():
    assert calendar_for_country("KZ", "Asia/Aqtobe").version != KZ.version
    assert calendar_for_country("UZ", "Asia/Almaty").version != KZ.version


def test_version_names_the_holidays_package_release():
    assert KZ.source["provider"]["package"] == "0.108"
    assert KZ.source["provider"]["country"] == "KZ"


def test_explicit_version_is_kept():
    assert WorkingCalendar(ALMATY, set(), version="kz-2026-v3").version == "kz-2026-v3"


def test_any_provider_of_dates_can_back_a_calendar():
    founders = {date(2026, 6, 3): "Founders' Day"}
    cal = WorkingCalendar(ALMATY, founders)
    assert not cal.is_working_day(date(2026, 6, 3))
    assert cal.why(date(2026, 6, 3)) == "Founders' Day"
    assert cal.add_working_days(date(2026, 6, 2), 1) == date(2026, 6, 4)
    assert cal.version != WorkingCalendar(ALMATY, {date(2026, 6, 4): "Other"}).version


def test_a_provider_with_no_working_days_stops_instead_of_looping():
    class EveryDay:
        def __contains__(self, d):
            return True

        def get(self, d, default=None):
            return "closed"

    with pytest.raises(ValueError, match="no working day"):
        WorkingCalendar(ALMATY, EveryDay()).add_working_days(date(2026, 1, 1), 1)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(2024, 12, 1), max_value=date(2026, 12, 31)), st.integers(0, 40))
def test_counting_back_the_days_added_gives_the_same_number(filed, n):
    due = KZ.add_working_days(filed, n)
    assert KZ.working_days_between(filed, due) == n
    if n:
        assert KZ.is_working_day(due)
        assert KZ.working_days_between(filed, due - timedelta(days=1)) == n - 1
