"""Deadlines as data: rules, records, reminders, and whether a deadline was met."""
import json
from datetime import date, datetime, timezone

import pytest
import time_machine

from engine.calendar import calendar_for_country
from engine.deadlines import (
    compute_deadline,
    deadline_met,
    due_at,
    explain,
    parse_rule,
    reminder_at,
)

UTC = timezone.utc
KZ = calendar_for_country("KZ", "Asia/Almaty")
DECISION_RULE = "working_days(2, exclude_start=True, end_of_day=True)"


@pytest.fixture
def decision():
    return compute_deadline("decision", DECISION_RULE, date(2026, 3, 20), KZ)


# --- rules -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, canonical", [
    ("working_days(2)", DECISION_RULE),
    (DECISION_RULE, DECISION_RULE),
    ("working_days(1, exclude_start=True, end_of_day=True)", "working_days(1, exclude_start=True, end_of_day=True)"),
    ("  working_days( n=3 ) ", "working_days(3, exclude_start=True, end_of_day=True)"),
    ("working_days(1, exclude_start=False)", "working_days(1, exclude_start=False, end_of_day=True)"),
    ("working_days(0)", "working_days(0, exclude_start=True, end_of_day=True)"),
    ('local_time_on("09:00", of="decision")', 'local_time_on("09:00", of="decision")'),
    ("local_time_on('09:00')", 'local_time_on("09:00")'),
    ("end_of_day()", "end_of_day()"),
])
def test_rule_is_parsed_into_its_canonical_form(text, canonical):
    assert str(parse_rule(text)) == canonical


def test_parsed_rule_spells_out_defaults():
    rule = parse_rule("working_days(2)")
    assert rule.function == "working_days"
    assert rule.arguments == {"n": 2, "exclude_start": True, "end_of_day": True}


@pytest.mark.parametrize("text, problem", [
    ("__import__('os')", "unknown rule '__import__'"),
    ("__import__('os').system('id')", "must be a call of one of"),
    ("working_days(__import__('os'))", "must be a literal"),
    ("(lambda: __import__('os'))()", "must be a call of one of"),
    ("os.system('id')", "must be a call of one of"),
    ("eval('1')", "unknown rule 'eval'"),
    ("working_days(2).__class__", "must be a call of one of"),
    ("working_days(2)(3)", "must be a call of one of"),
    ("working_days(2); print(1)", "not a rule expression"),
    ("working_days", "must be a call of one of"),
    ("", "not a rule expression"),
    ("working_days(-1)", "must be a literal"),
    ("working_days(1 + 1)", "must be a literal"),
    ("working_days(True)", "'n' must be int"),
    ("working_days(2.5)", "'n' must be int"),
    ("working_days('2')", "'n' must be int"),
    ("working_days(2, exclude_start=1)", "'exclude_start' must be bool"),
    ("working_days()", "needs 'n'"),
    ("working_days(2, True, True, 4)", "at most 3 positional"),
    ("working_days(2, n=3)", "given twice"),
    ("working_days(2, calendar='x')", "no parameter 'calendar'"),
    ("working_days(*[2])", "'*' arguments"),
    ("working_days(**{'n': 2})", "'**' arguments"),
    ("working_days(1001)", "between 0 and 1000"),
    ("working_days(0, exclude_start=False)", "needs n >= 1"),
    ("working_days(2, end_of_day=end_of_day())", "must be a literal"),
    ('local_time_on("9:00")', "HH:MM"),
    ('local_time_on("25:00")', "HH:MM"),
    ('local_time_on("09:00", of="x; y")', "'of' must name a deadline"),
    ("end_of_day(1)", "at most 0 positional"),
    ("working_days(" + "9" * 300 + ")", "longer than 200"),
])
def test_bad_rule_is_refused_naming_the_problem(text, problem):
    with pytest.raises(ValueError) as refused:
        parse_rule(text)
    assert problem in str(refused.value)


def test_rule_must_be_text():
    with pytest.raises(ValueError, match="must be a string"):
        parse_rule(2)


# --- records ---------------------------------------------------------------------------

def test_decision_filed_friday_before_nauryz_is_due_end_of_friday_27_march(decision):
    assert decision["name"] == "decision"
    assert decision["rule"] == DECISION_RULE
    assert decision["start"] == "2026-03-20"
    assert decision["due_date"] == "2026-03-27"
    assert decision["due_at"] == "2026-03-27T23:59:59+05:00"
    assert decision["due_at_utc"] == "2026-03-27T18:59:59+00:00"
    assert decision["timezone"] == "Asia/Almaty"
    assert decision["calendar_version"] == KZ.version
    assert decision["inputs"] == {"rule": "working_days", "n": 2, "exclude_start": True,
                                  "end_of_day": True, "start_date": "2026-03-20"}


def test_record_survives_a_json_round_trip(decision):
    stored = json.loads(json.dumps(decision))
    assert stored == decision
    assert due_at(stored) == datetime(2026, 3, 27, 18, 59, 59, tzinfo=UTC)


def test_computed_at_comes_from_the_engine_clock():
    with time_machine.travel(datetime(2026, 3, 20, 10, 15, tzinfo=UTC), tick=False):
        record = compute_deadline("decision", DECISION_RULE, date(2026, 3, 20), KZ)
    assert record["computed_at"] == "2026-03-20T10:15:00+00:00"


def test_police_answer_is_due_end_of_first_working_day_after_the_request_day():
    # Request on Thursday 30 April 2026 at 15:00; Friday 1 May is a holiday.
    record = compute_deadline("police_answer", "working_days(1)", "2026-04-30T15:00:00+05:00", KZ)
    assert record["due_at"] == "2026-05-04T23:59:59+05:00"
    assert record["start"] == "2026-04-30T15:00:00+05:00"
    assert record["inputs"]["start_local"] == "2026-04-30T15:00:00+05:00"


def test_employer_consent_three_working_days_skip_the_may_holidays():
    # Tue 5 May 2026: Wed 6 (1), Thu 7 holiday, Fri 8 (2), 9-11 May off, Tue 12 (3).
    record = compute_deadline("employer_consent", "working_days(3)", date(2026, 5, 5), KZ)
    assert record["due_at"] == "2026-05-12T23:59:59+05:00"


def test_start_given_in_utc_counts_from_its_almaty_day():
    # 21:00 UTC Thursday 19 March is already Friday 20 March in Almaty.
    record = compute_deadline("decision", DECISION_RULE, "2026-03-19T21:00:00Z", KZ)
    assert record["inputs"]["start_date"] == "2026-03-20"
    assert record["due_at"] == "2026-03-27T23:59:59+05:00"
    aware = compute_deadline("decision", DECISION_RULE, datetime(2026, 3, 19, 21, 0, tzinfo=UTC), KZ)
    assert aware["due_at"] == record["due_at"]


@pytest.mark.parametrize("start", [
    "2026-03-20T10:00:00",
    "2026-03-20 10:00",
    datetime(2026, 3, 20, 10, 0),
])
def test_deadline_start_without_a_time_zone_is_refused(start):
    with pytest.raises(ValueError, match="deadline start without a time zone"):
        compute_deadline("decision", DECISION_RULE, start, KZ)


@pytest.mark.parametrize("start", ["next friday", "2026-13-01", 20260320, None])
def test_start_that_is_not_a_date_or_time_is_refused(start):
    with pytest.raises(ValueError):
        compute_deadline("decision", DECISION_RULE, start, KZ)


def test_date_only_start_string_is_a_filing_day():
    record = compute_deadline("decision", DECISION_RULE, "2026-03-20", KZ)
    assert record["start"] == "2026-03-20"
    assert record["due_at"] == "2026-03-27T23:59:59+05:00"


@pytest.mark.parametrize("name", ["", "bad name", "x" * 65, "drop;table", None])
def test_deadline_name_must_be_an_identifier(name):
    with pytest.raises(ValueError, match="deadline name"):
        compute_deadline(name, DECISION_RULE, date(2026, 3, 20), KZ)


def test_counting_the_start_day_when_the_rule_says_so():
    # Thursday 26 March is a working day and counts as the first.
    assert compute_deadline("d", "working_days(1, exclude_start=False)", date(2026, 3, 26), KZ)[
        "due_at"] == "2026-03-26T23:59:59+05:00"
    # Saturday 21 March is Nauryz; the first working day counted is Thursday 26.
    assert compute_deadline("d", "working_days(1, exclude_start=False)", date(2026, 3, 21), KZ)[
        "due_at"] == "2026-03-26T23:59:59+05:00"


def test_deadline_at_the_start_time_of_day_instead_of_end_of_day():
    record = compute_deadline("d", "working_days(2, end_of_day=False)", "2026-03-20T15:30:00+05:00", KZ)
    assert record["due_at"] == "2026-03-27T15:30:00+05:00"
    with pytest.raises(ValueError, match="needs a start with a time of day"):
        compute_deadline("d", "working_days(2, end_of_day=False)", date(2026, 3, 20), KZ)


def test_permit_valid_until_the_end_of_valid_to_even_on_a_holiday():
    # Validity is calendar time: Sunday 22 March 2026 (Nauryz) is still the last valid day.
    record = compute_deadline("permit_validity", "end_of_day()", date(2026, 3, 22), KZ)
    assert record["due_at"] == "2026-03-22T23:59:59+05:00"


def test_configured_transfer_moves_the_decision_deadline_and_is_recorded_in_the_version():
    transfer = calendar_for_country("KZ", "Asia/Almaty", {date(2026, 5, 8): False})
    record = compute_deadline("decision", DECISION_RULE, date(2026, 5, 6), transfer)
    assert record["due_at"] == "2026-05-13T23:59:59+05:00"
    assert record["calendar_version"] == transfer.version != KZ.version


# --- the 09:00 reminder ----------------------------------------------------------------

def test_officer_is_reminded_at_nine_on_the_decision_day(decision):
    reminder = reminder_at(decision, "09:00", KZ)
    assert reminder["name"] == "decision_reminder"
    assert reminder["rule"] == 'local_time_on("09:00", of="decision")'
    assert reminder["due_at"] == "2026-03-27T09:00:00+05:00"
    assert reminder["due_at_utc"] == "2026-03-27T04:00:00+00:00"
    assert reminder["inputs"]["of"] == "decision"
    assert reminder["start"] == decision["due_at"]
    assert deadline_met(decision, due_at(reminder))


def test_reminder_rule_can_be_computed_from_the_deadline_record(decision):
    reminder = compute_deadline("remind", 'local_time_on("09:00", of="decision")', decision, KZ)
    assert reminder["due_at"] == "2026-03-27T09:00:00+05:00"


def test_reminder_of_another_deadline_is_refused(decision):
    with pytest.raises(ValueError, match="is of 'police_answer'"):
        compute_deadline("remind", 'local_time_on("09:00", of="police_answer")', decision, KZ)


# --- met or missed ---------------------------------------------------------------------

@pytest.mark.parametrize("at, met", [
    (datetime(2026, 3, 26, 10, 0, tzinfo=UTC), True),
    (datetime.fromisoformat("2026-03-27T23:59:59+05:00"), True),
    (datetime(2026, 3, 27, 18, 59, 59, tzinfo=UTC), True),
    (datetime(2026, 3, 27, 19, 0, 0, tzinfo=UTC), False),
    (datetime.fromisoformat("2026-03-28T00:00:00+05:00"), False),
    # The deadline is 23:59:59.000 to the second; a later fraction of that second is late.
    (datetime.fromisoformat("2026-03-27T23:59:59.500000+05:00"), False),
])
def test_decision_is_in_time_up_to_the_last_second_of_friday_27_march(decision, at, met):
    assert deadline_met(decision, at) is met


def test_deadline_met_refuses_a_naive_time(decision):
    with pytest.raises(ValueError, match="naive datetime"):
        deadline_met(decision, datetime(2026, 3, 27, 12, 0))


# --- explanations ----------------------------------------------------------------------

def test_explanation_lists_the_nauryz_days_skipped_and_the_days_counted(decision):
    lines = explain(decision, KZ)
    assert "Fri 20.03.2026: start day, not counted" in lines
    assert "Sat 21.03.2026: skipped, Nowruz Holiday" in lines
    assert "Tue 24.03.2026: skipped, Nowruz Holiday (observed)" in lines
    assert "Wed 25.03.2026: skipped, Nowruz Holiday (observed)" in lines
    assert "Thu 26.03.2026: working day 1 of 2" in lines
    assert "Fri 27.03.2026: working day 2 of 2" in lines
    assert lines[-1] == "due 2026-03-27T23:59:59+05:00 (Asia/Almaty) = 2026-03-27T18:59:59+00:00"


def test_explanation_says_when_todays_calendar_would_give_another_due_time():
    record = compute_deadline("decision", DECISION_RULE, date(2026, 5, 6), KZ)
    transfer = calendar_for_country("KZ", "Asia/Almaty", {date(2026, 5, 8): False})
    lines = explain(record, transfer)
    assert f"note: computed with calendar {KZ.version}, explained with calendar {transfer.version}" in lines
    assert "note: the current calendar would give 2026-05-13T23:59:59+05:00" in lines


def test_explanation_of_the_reminder_names_the_deadline(decision):
    lines = explain(reminder_at(decision, "09:00", KZ), KZ)
    assert "09:00 local on the due day of deadline 'decision', Fri 27.03.2026 (working day)" in lines
