"""An operator moves a case back to an activity it has reached (process instance modification):
the tasks after it close, the case runs on from there; a step never reached is refused."""
from __future__ import annotations

import dataclasses

import sqlalchemy as sa
import time_machine

from engine import audit, instances, operators
from engine.db import db
from handlers import cases
from tests import permit_support as ps
from tests.inbox_support import client, csrf, make_user, sign_in  # noqa: F401  the inbox client fixture
from tests.test_api_support import make_token

FILED = ps.almaty(2026, 3, 20, 10, 0)


def register_fails(monkeypatch):
    def refuse(ctx, **params):
        raise RuntimeError("the permit register is being migrated")
    original = operators.get("permits.register")
    monkeypatch.setitem(operators._REGISTRY, "permits.register", dataclasses.replace(original, func=refuse))


def case_stuck_after_the_decision(app, monkeypatch):
    """The officer decided to issue; registering the permit failed: an incident after the decision."""
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app)
    with time_machine.travel(FILED, tick=False):
        case_id = ps.file_application().id
        ps.sweep(app)
    register_fails(monkeypatch)
    ps.decide(case_id, ps.ISSUE)
    db.session.remove()
    row = instances.get(case_id)
    assert (row.status, row.incident_task_name) == ("incident", "Register the permit")
    assert ps.open_task(case_id) is None
    return case_id


def test_a_case_moved_back_to_the_decision_reappears_in_the_inbox(app, monkeypatch):
    case_id = case_stuck_after_the_decision(app, monkeypatch)
    api = app.test_client()
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    answer = api.post(f"/api/v1/cases/{case_id}/move", headers=headers,
                      json={"activity": "decide", "reason": "The officer issues on a wrong employer; decide again",
                            "data": {"operator_note": "re-decide"}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "in_progress"
    db.session.remove()
    task = ps.open_task(case_id)
    assert task is not None and task.region == "AST"
    queue = app.test_client()
    make_user("aigul.officer")
    sign_in(queue, "aigul.officer")
    assert f"/tasks/{task.id}" in queue.get("/inbox").get_data(as_text=True)
    ps.decide(case_id, {"data_matches": True, "decision": "refuse",
                        "grounds": ["other"], "comment": "The employer is not the one on file"})
    db.session.remove()
    assert cases.get(case_id).outcome_code == "refused"
    moved = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="instance_moved")).scalar_one()
    assert moved.actor == "api:ops-console" and moved.details["to"] == "decide"
    assert moved.details["from"] == ["Register the permit (register_permit)"]


def test_a_move_to_a_step_not_reached_or_of_a_decided_case_is_refused_with_the_reason(app, monkeypatch):
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app)
    with time_machine.travel(FILED, tick=False):
        case_id = ps.file_application().id
        ps.sweep(app)
    api = app.test_client()
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    ahead = api.post(f"/api/v1/cases/{case_id}/move", headers=headers,
                     json={"activity": "register_permit", "reason": "skip the decision"})
    assert ahead.status_code == 409 and "has not reached “Register the permit”" in ahead.get_json()["detail"]
    unknown = api.post(f"/api/v1/cases/{case_id}/move", headers=headers, json={"activity": "nowhere", "reason": "x"})
    assert unknown.status_code == 422 and "activity" in unknown.get_json()["errors"]
    no_reason = api.post(f"/api/v1/cases/{case_id}/move", headers=headers, json={"activity": "decide"})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]
    db.session.remove()
    assert ps.open_task(case_id) is not None
    assert db.session.execute(sa.select(audit.AuditEvent).filter_by(event="instance_moved")).first() is None
    ps.decide(case_id, ps.ISSUE)
    db.session.remove()
    decided = api.post(f"/api/v1/cases/{case_id}/move", headers=headers, json={"activity": "decide", "reason": "x"})
    assert decided.status_code == 409 and "already decided (issued)" in decided.get_json()["detail"]
    result = app.test_cli_runner().invoke(args=["cases", "move", case_id, "decide", "--reason", "x"])
    assert result.exit_code == 1 and "already decided" in result.output


def test_a_supervisor_moves_a_case_back_from_its_page_and_an_officer_cannot(app, monkeypatch, client):
    case_id = case_stuck_after_the_decision(app, monkeypatch)
    make_user("aigul.officer")
    make_user("erlan.supervisor", roles=("supervisor",))
    sign_in(client, "aigul.officer")
    assert client.get(f"/cases/{case_id}/operations").status_code == 404
    assert client.post(f"/cases/{case_id}/move", data={"activity": "decide", "reason": "r",
                                                       "csrf_token": csrf(client)}).status_code == 404
    supervisor = app.test_client()
    sign_in(supervisor, "erlan.supervisor")
    page = supervisor.get(f"/cases/{case_id}/operations").get_data(as_text=True)
    assert '<option value="decide">Decide on the permit</option>' in page
    assert 'value="notify_issued"' not in page  # never reached: not offered
    done = supervisor.post(f"/cases/{case_id}/move", data={"activity": "decide", "reason": "decide again",
                                                           "csrf_token": csrf(supervisor)}, follow_redirects=True)
    assert "The case runs on from the chosen step." in done.get_data(as_text=True)
    db.session.remove()
    assert ps.open_task(case_id) is not None and instances.get(case_id).status == "in_progress"
