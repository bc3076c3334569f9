"""Day transfers administered with `flask calendar ...`: stored, audited, and in force at once.

Nauryz 2026: 21-25 March off; Thursday 26 and Friday 27 March are working days, Saturday
28 March is not (unless a decree says so).
"""
from datetime import date

import pytest
import sqlalchemy as sa

from app import create_app
from engine import audit, calendar, deadlines
from engine.db import db
from tests.conftest import make_config


def run(app, *args):
    return app.test_cli_runner().invoke(args=["calendar", *args])


def audit_events(name):
    return list(db.session.execute(sa.select(audit.AuditEvent).filter_by(event=name)
                                   .order_by(audit.AuditEvent.id)).scalars())


def decision_due(filed_on):
    return deadlines.compute_deadline("decision", "working_days(2)", filed_on, calendar.current_calendar())["due_date"]


def test_an_extra_day_off_by_decree_moves_the_decision_deadline_and_is_audited(app):
    assert decision_due("2026-03-20") == "2026-03-27"
    before = calendar.current_calendar().version
    result = run(app, "set", "2026-03-26", "--day-off", "--reason", "Decree No. 1 (test)", "--actor", "admin")
    assert result.exit_code == 0, result.output
    assert "2026-03-26 Thursday: day off (day off by transfer)" in result.output
    assert decision_due("2026-03-20") == "2026-03-30"
    assert calendar.current_calendar().version != before
    (event,) = audit_events("calendar_override_set")
    assert event.actor == "admin"
    assert event.details == {"date": "2026-03-26", "is_working_day": False, "reason": "Decree No. 1 (test)",
                             "previous": None}
    stored = db.session.get(calendar.CalendarOverride, date(2026, 3, 26))
    assert (stored.is_working_day, stored.changed_by) == (False, "admin")


def test_a_working_saturday_by_decree_counts_as_a_working_day(app):
    assert decision_due("2026-03-26") == "2026-03-30"
    assert run(app, "set", "2026-03-28", "--working", "--reason", "Transfer (test)").exit_code == 0
    assert decision_due("2026-03-26") == "2026-03-28"
    assert audit_events("calendar_override_set")[0].actor == "cli"


def test_changing_a_day_again_records_what_it_was(app):
    run(app, "set", "2026-03-26", "--day-off", "--reason", "first decree")
    run(app, "set", "2026-03-26", "--working", "--reason", "decree revoked")
    second = audit_events("calendar_override_set")[1]
    assert second.details["previous"]["is_working_day"] is False
    assert second.details["previous"]["reason"] == "first decree"


def test_removing_a_day_transfer_restores_the_calendar_and_is_audited(app):
    run(app, "set", "2026-03-26", "--day-off", "--reason", "Decree (test)")
    result = run(app, "remove", "2026-03-26", "--actor", "admin")
    assert result.exit_code == 0, result.output
    assert "2026-03-26 Thursday: working day" in result.output
    assert decision_due("2026-03-20") == "2026-03-27"
    (event,) = audit_events("calendar_override_removed")
    assert event.actor == "admin" and event.details["previous"]["reason"] == "Decree (test)"


def test_removing_a_day_that_has_no_stored_transfer_fails_and_audits_nothing(app):
    result = run(app, "remove", "2026-03-26")
    assert result.exit_code != 0 and "no stored day transfer for 2026-03-26" in result.output
    assert audit_events("calendar_override_removed") == []


@pytest.mark.parametrize("args, problem", [
    (["set", "2026-03-26", "--reason", "x"], "say --working or --day-off"),
    (["set", "2026-03-26", "--day-off"], "Missing option '--reason'"),
    (["set", "2026-03-26", "--day-off", "--reason", "  "], "needs a reason"),
    (["set", "26.03.2026", "--day-off", "--reason", "x"], "does not match the format"),
])
def test_a_change_without_what_or_why_is_refused(app, args, problem):
    result = run(app, *args)
    assert result.exit_code != 0 and problem in result.output
    assert audit_events("calendar_override_set") == []


def test_check_says_whether_a_day_is_a_working_day_and_why(app):
    result = run(app, "check", "2026-03-23", "2026-03-26", "2026-03-28")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("2026-03-23 Monday: day off (Nowruz Holiday)")
    assert lines[1].startswith("2026-03-26 Thursday: working day (working day)")
    assert lines[2].startswith("2026-03-28 Saturday: day off (weekend)")


def test_configured_transfers_seed_the_calendar_and_a_stored_day_wins(app):
    seeded = create_app(make_config(CALENDAR_OVERRIDES={"2026-03-26": False, "2026-03-28": True}))
    with seeded.app_context():  # the `app` fixture empties the tables afterwards
        try:
            assert not calendar.current_calendar().is_working_day(date(2026, 3, 26))
            assert run(seeded, "set", "2026-03-26", "--working", "--reason", "decree revoked").exit_code == 0
            assert calendar.current_calendar().is_working_day(date(2026, 3, 26))
            listed = run(seeded, "list").output.splitlines()
            assert listed[0].startswith("2026-03-26 Thu\tworking day\tdecree revoked\t(cli ")
            assert listed[1] == "2026-03-28 Sat\tworking day\tCALENDAR_OVERRIDES\t(config)"
            run(seeded, "remove", "2026-03-26")
            assert not calendar.current_calendar().is_working_day(date(2026, 3, 26))
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_calendar_is_built_once_per_content_of_the_table(app):
    first = calendar.current_calendar()
    assert calendar.current_calendar() is first
    calendar.set_override(date(2026, 3, 26), False, "decree", "admin")
    changed = calendar.current_calendar()
    assert changed is not first and changed.version != first.version
    calendar.remove_override(date(2026, 3, 26), "admin")
    assert calendar.current_calendar().version == first.version


def test_list_without_transfers_says_so(app):
    result = run(app, "list")
    assert result.output.splitlines()[0] == "no day transfers"
