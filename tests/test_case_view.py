"""The read model of a case (handlers/case_view.py): the API and the case page say the same.

Real issue cases (processes/permit_issue.bpmn) are driven through their deadlines with the
clock moved as the procedure tests move it; at each point GET /api/v1/cases/{id} and the
officer's case page are read and must agree on every deadline's state.
"""
import html as html_module
import re
from datetime import datetime, timezone

import pytest
import time_machine

from handlers import case_view
from tests.inbox_support import client, make_user, sign_in  # noqa: F401  fixtures
from tests.permit_support import (ISSUE, almaty, application, decide, deploy_procedures, file_application,
                                  load_reference, sweep)
from tests.test_api_support import make_token

FILED = almaty(2026, 6, 10, 10, 0)  # Wednesday; the decision is due Friday 12.06 23:59:59
_ROW = re.compile(r'<tr data-deadline="([^"]+)" data-state="([^"]+)">(.*?)</tr>', re.S)
LABELS = {"open": "open", "overdue": "overdue", "met": "met", "missed": "missed", "sent": "reminder sent",
          "not needed": "not needed", "passed": "passed"}


@pytest.fixture
def service(app):
    load_reference(app)
    deploy_procedures(app)
    make_user("aigul", region="AST")
    return app


def file_with_police_answer(app, number, at=FILED):
    with time_machine.travel(at, tick=False):
        case_id = file_application(application(application_no=number), filed_at=at).id
        sweep(app)  # the simulated police agree on the next sweep: the officer decides
    return case_id


def api_deadlines(app, headers, case_id) -> dict:
    response = app.test_client().get(f"/api/v1/cases/{case_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return {d["name"]: (d["state"], d["met"]) for d in response.get_json()["deadlines"]}


def page_deadlines(client, case_id) -> dict:  # noqa: F811
    page = client.get(f"/cases/{case_id}")
    if page.status_code == 302:  # not signed in yet, or the session ended while the clock moved
        sign_in(client, "aigul")
        page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    found = {}
    for name, state, row in _ROW.findall(page.get_data(as_text=True)):
        state = html_module.unescape(state)
        text = re.sub(r"<[^>]+>", " ", row)
        assert LABELS[state] in text, f"the page's row of {name} does not say {LABELS[state]!r}: {text}"
        found[name] = state
    return found


def agreed(app, client, headers, case_id) -> dict:  # noqa: F811
    """The states both read, after checking they agree (and `met` follows from the state)."""
    from_api = api_deadlines(app, headers, case_id)
    from_page = page_deadlines(client, case_id)
    assert {name: state for name, (state, _) in from_api.items()} == from_page
    for state, met in from_api.values():
        assert met == {"met": True, "missed": False, "overdue": False}.get(state)
    return from_page


def test_the_api_and_the_case_page_agree_on_every_deadline_state(service, client):  # noqa: F811
    headers = make_token(name="portal", regions=["AST"])
    late = file_with_police_answer(service, "EGOV-2026-000001")
    in_time = file_with_police_answer(service, "EGOV-2026-000002")

    with time_machine.travel(almaty(2026, 6, 11, 15, 0), tick=False):  # Thursday: one is decided
        decide(in_time, ISSUE)
    with time_machine.travel(almaty(2026, 6, 12, 8, 59), tick=False):  # reminder pending
        sweep(service)
        assert agreed(service, client, headers, late) == {
            "police_answer": "met", "decision_reminder": "open", "decision": "open"}
        assert agreed(service, client, headers, in_time) == {
            "police_answer": "met", "decision_reminder": "not needed", "decision": "met"}
    with time_machine.travel(almaty(2026, 6, 12, 9, 0, 30), tick=False):  # the reminder goes out
        sweep(service)
        assert agreed(service, client, headers, late) == {
            "police_answer": "met", "decision_reminder": "sent", "decision": "open"}
    with time_machine.travel(almaty(2026, 6, 13, 0, 0, 30), tick=False):  # open past its due time
        sweep(service)
        assert agreed(service, client, headers, late) == {
            "police_answer": "met", "decision_reminder": "sent", "decision": "overdue"}
    with time_machine.travel(almaty(2026, 6, 15, 10, 0), tick=False):  # decided late
        decide(late, ISSUE)
        assert agreed(service, client, headers, late) == {
            "police_answer": "met", "decision_reminder": "sent", "decision": "missed"}
        assert agreed(service, client, headers, in_time)["decision"] == "met"


def test_a_reminder_past_its_time_before_the_officer_waits_has_passed(service, client):  # noqa: F811
    """Filed with the police still silent on the decision day: no reminder could go out (the
    officer has nothing to decide yet), the decision is overdue; both read it so."""
    headers = make_token(name="portal", regions=["AST"])
    with time_machine.travel(FILED, tick=False):
        case_id = file_application(filed_at=FILED).id  # no sweep: the police answer never comes
    with time_machine.travel(almaty(2026, 6, 13, 10, 0), tick=False):
        states = agreed(service, client, headers, case_id)
    assert states == {"police_answer": "overdue", "decision_reminder": "passed", "decision": "overdue"}, states


T = datetime(2026, 6, 12, 18, 59, 59, tzinfo=timezone.utc)  # 23:59:59 in Almaty
RECORD = {"name": "decision", "rule": "working_days(2)", "due_at": "2026-06-12T23:59:59+05:00",
          "due_at_utc": T.isoformat(), "inputs": {"rule": "working_days"}}
REMINDER = {"name": "decision_reminder", "due_at_utc": "2026-06-12T04:00:00+00:00",
            "inputs": {"rule": "local_time_on", "of": "decision"}}


class Row:
    def __init__(self, status, completed_at=None):
        self.status, self.completed_at = status, completed_at


class Event:
    def __init__(self, event, at):
        self.event, self.at = event, at


@pytest.mark.parametrize("record, evidence, now, state", [
    ({**RECORD, "met": False}, {}, T.replace(day=1), "missed"),            # the record's closing first
    (RECORD, {"tasks": [Row("ready")]}, T, "open"),                       # the last second counts
    (RECORD, {"tasks": [Row("ready")]}, T.replace(second=59, minute=59, hour=19), "overdue"),
    (RECORD, {"tasks": [Row("completed", T)]}, T.replace(day=20), "met"),
    (RECORD, {"timer_events": [Event("timer_fired", T)]}, T.replace(day=20), "missed"),
    (RECORD, {"timer_events": [Event("timer_cancelled", T)]}, T.replace(day=20), "met"),
    (RECORD, {"ended_at": T.replace(day=13)}, T.replace(day=20), "missed"),
    (RECORD, {}, T.replace(day=20), "overdue"),
    (REMINDER, {"timer_events": [Event("timer_fired", T)]}, T, "sent"),
    (REMINDER, {"timer_events": [Event("timer_cancelled", T)]}, T, "not needed"),
    (REMINDER, {"ended_at": T.replace(day=20)}, T.replace(day=21), "not needed"),
    (REMINDER, {"timer_pending": True}, T, "overdue"),                    # due, the sweep not there yet
    (REMINDER, {}, T, "passed"),
    ({"name": "x", "rule": "x"}, {}, T, "unknown"),
])
def test_one_rule_decides_a_deadline_state(record, evidence, now, state):
    found = case_view.deadline_state(record["name"], record, now=now, **evidence)
    assert found.state == state
    assert found.met is {"met": True, "missed": False, "overdue": False}.get(state)
