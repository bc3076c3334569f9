"""/tasks: integrations acting as an officer, under the inbox's rules."""
import pytest
import sqlalchemy as sa

from engine import audit
from engine.db import db
from handlers import cases
from tests.test_api_support import (  # noqa: F401  fixtures
    DECISION_FORM_SCHEMA, api, api_app, conforms, make_token, problem, stub, submit, table_counts)


def _case_waiting_for_decision(api, headers, application_no="EGOV-T-1", region="AST"):
    case_id = submit(api, headers, application_no=application_no, region=region).get_json()["case_id"]
    reply = api.post("/api/v1/messages/police_reply", headers=headers, json={
        "message_id": f"mp-{case_id}", "correlation": case_id, "payload": {"verdict": "approve"}})
    assert reply.status_code == 202, reply.get_json()
    return case_id


def _officer(name="officer-bot", **kwargs):
    kwargs.setdefault("scopes", ["tasks:write"])
    return make_token(name, role=kwargs.pop("role", "officer"), **kwargs)


def test_the_queue_shows_the_officers_tasks_with_their_deadline(api, stub):
    case_id = _case_waiting_for_decision(api, make_token())
    response = api.get("/api/v1/tasks", headers=_officer())
    assert response.status_code == 200
    conforms(response, "/tasks", "get")
    page = response.get_json()
    assert page["next_cursor"] is None and len(page["items"]) == 1
    task = page["items"][0]
    assert task["case_id"] == case_id and task["name"] == "Decide" and task["lane"] == "Officer"
    assert task["role"] == "officer" and task["region"] == "AST" and task["status"] == "ready"
    assert task["assignee"] is None and task["due_at"].endswith("+05:00")


def test_the_queue_follows_the_token_role_and_regions(api, stub):
    _case_waiting_for_decision(api, make_token())
    assert api.get("/api/v1/tasks", headers=_officer("sup", role="supervisor")).get_json()["items"] == []
    assert api.get("/api/v1/tasks", headers=_officer("ala", regions=["ALA"])).get_json()["items"] == []
    assert len(api.get("/api/v1/tasks", headers=_officer("ast", regions=["AST"])).get_json()["items"]) == 1


def test_a_task_reads_with_its_form_schema_and_data(api, stub):
    case_id = _case_waiting_for_decision(api, make_token())
    headers = _officer()
    task_id = api.get("/api/v1/tasks", headers=headers).get_json()["items"][0]["id"]
    response = api.get(f"/api/v1/tasks/{task_id}", headers=headers)
    assert response.status_code == 200
    conforms(response, "/tasks/{task_id}", "get")
    task = response.get_json()
    assert task["form"] == {"name": "api_decision.schema.json", "schema": DECISION_FORM_SCHEMA}
    assert task["data"]["case_id"] == case_id
    assert task["data"]["police_reply"] == {"verdict": "approve", "reason": None}
    problem(api.get(f"/api/v1/tasks/{task_id}", headers=_officer("ala", regions=["ALA"])), 404)
    problem(api.get("/api/v1/tasks/00000000-0000-4000-8000-000000000000", headers=headers), 404)


def test_claim_complete_and_the_case_runs_on_to_its_outcome(api, stub):
    case_id = _case_waiting_for_decision(api, make_token())
    headers = _officer("decider", assignee="Aliya Nurova")
    task_id = api.get("/api/v1/tasks", headers=headers).get_json()["items"][0]["id"]

    claimed = api.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    assert claimed.status_code == 200
    conforms(claimed, "/tasks/{task_id}/claim", "post")
    assert claimed.get_json()["assignee"] == "Aliya Nurova"
    mine = api.get("/api/v1/tasks", headers=headers, query_string={"mine": "true"}).get_json()["items"]
    assert [t["id"] for t in mine] == [task_id]
    assert api.get("/api/v1/tasks", headers=headers, query_string={"unassigned": "true"}).get_json()["items"] == []

    done = api.post(f"/api/v1/tasks/{task_id}/complete", headers=headers, json={"data": {"outcome": "issued"}})
    assert done.status_code == 200, done.get_json()
    conforms(done, "/tasks/{task_id}/complete", "post")
    assert done.get_json()["status"] == "completed" and done.get_json()["completed_by"] == "Aliya Nurova"
    assert cases.get(case_id).outcome_code == "issued"
    events = {e.event: e for e in audit.trail(case_id)}
    assert events["api_task_claim"].actor == "api:decider"
    assert events["api_task_claim"].details["officer"] == "Aliya Nurova"
    assert events["api_task_complete"].actor == "api:decider"
    assert events["task_completed"].actor == "Aliya Nurova"
    problem(api.post(f"/api/v1/tasks/{task_id}/complete", headers=headers, json={"data": {"outcome": "issued"}}), 409)


def test_the_inbox_rules_hold(api, stub):
    _case_waiting_for_decision(api, make_token())
    first, second = _officer("first"), _officer("second")
    task_id = api.get("/api/v1/tasks", headers=first).get_json()["items"][0]["id"]
    problem(api.post(f"/api/v1/tasks/{task_id}/complete", headers=first, json={"data": {"outcome": "issued"}}), 403)
    api.post(f"/api/v1/tasks/{task_id}/claim", headers=first)
    problem(api.post(f"/api/v1/tasks/{task_id}/claim", headers=second), 409)
    problem(api.post(f"/api/v1/tasks/{task_id}/unclaim", headers=second), 403)
    problem(api.post(f"/api/v1/tasks/{task_id}/complete", headers=second, json={"data": {"outcome": "issued"}}), 403)
    given_back = api.post(f"/api/v1/tasks/{task_id}/unclaim", headers=first)
    assert given_back.status_code == 200 and given_back.get_json()["assignee"] is None
    conforms(given_back, "/tasks/{task_id}/unclaim", "post")


def test_a_form_that_breaks_its_schema_is_422_and_the_task_stays_open(api, stub):
    case_id = _case_waiting_for_decision(api, make_token())
    headers = _officer()
    task_id = api.get("/api/v1/tasks", headers=headers).get_json()["items"][0]["id"]
    api.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    before = table_counts()
    for data, field in [({"outcome": "maybe"}, "outcome"), ({}, "outcome"), ({"outcome": "issued", "x": 1}, "")]:
        response = api.post(f"/api/v1/tasks/{task_id}/complete", headers=headers, json={"data": data})
        assert field in problem(response, 422)["errors"], response.get_json()
    problem(api.post(f"/api/v1/tasks/{task_id}/complete", headers=headers, json={"outcome": "issued"}), 422)
    assert table_counts() == before
    assert cases.get(case_id).outcome_code is None


def test_tasks_need_the_scope_and_an_officer_role(api, stub):
    from web.api import clients
    _case_waiting_for_decision(api, make_token())
    problem(api.get("/api/v1/tasks", headers=make_token("reader", ["cases:read"])), 403)
    problem(api.get("/api/v1/tasks"), 401)
    with pytest.raises(ValueError, match="role"):
        clients.create("no-role", ["tasks:write"], actor="test")


def test_the_queue_pages_with_a_cursor(api, stub):
    headers = make_token()
    for i in range(3):
        _case_waiting_for_decision(api, headers, application_no=f"EGOV-P-{i}")
    officer = _officer()
    first = api.get("/api/v1/tasks", headers=officer, query_string={"limit": 2}).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = api.get("/api/v1/tasks", headers=officer,
                     query_string={"limit": 2, "cursor": first["next_cursor"]}).get_json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert len({t["id"] for t in first["items"] + second["items"]}) == 3
    problem(api.get("/api/v1/tasks", headers=officer, query_string={"status": "lost"}), 422)


def test_an_officer_may_not_hand_another_officers_task_to_someone(api, stub):
    _case_waiting_for_decision(api, make_token())
    officer, supervisor = _officer("o1"), make_token("boss", ["tasks:write"], role="officer")
    task_id = api.get("/api/v1/tasks", headers=officer).get_json()["items"][0]["id"]
    api.post(f"/api/v1/tasks/{task_id}/claim", headers=officer)
    problem(api.post(f"/api/v1/tasks/{task_id}/unclaim", headers=supervisor, json={"reassign_to": "boss"}), 403)
    rows = db.session.execute(sa.select(audit.AuditEvent.event)).scalars().all()
    assert "task_reassigned" not in rows
