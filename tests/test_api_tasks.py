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
    # One event per action: the officer acted, through this client system.
    assert events["task_claimed"].actor == "Aliya Nurova"
    assert events["task_claimed"].details["via"] == {"client": "api:decider"}
    assert events["task_completed"].actor == "Aliya Nurova"
    assert events["task_completed"].details["via"] == {"client": "api:decider"}
    assert not [e for e in audit.trail(case_id) if e.event.startswith("api_task_")]
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


# --- a client finds its own task (issue 14, item 5) -------------------------------------------

def test_a_client_finds_the_task_of_its_case_by_case_id_and_from_the_cases_current_steps(api, stub):
    headers = make_token()
    cases_ = [_case_waiting_for_decision(api, headers, application_no=f"EGOV-F-{i}") for i in range(3)]
    officer = _officer()
    wanted = cases_[1]
    response = api.get("/api/v1/tasks", headers=officer, query_string={"case_id": wanted})
    conforms(response, "/tasks", "get")
    [task] = response.get_json()["items"]
    assert task["case_id"] == wanted
    by_instance = api.get("/api/v1/tasks", headers=officer, query_string={"instance_id": wanted}).get_json()
    assert [t["id"] for t in by_instance["items"]] == [task["id"]]
    steps = api.get(f"/api/v1/cases/{wanted}", headers=headers).get_json()["current_steps"]
    assert [s["task_id"] for s in steps] == [task["id"]], "the case names the task a client acts on"
    claimed = api.post(f"/api/v1/tasks/{steps[0]['task_id']}/claim", headers=officer)
    assert claimed.status_code == 200 and claimed.get_json()["case_id"] == wanted
    other = _officer("ala", regions=["ALA"])
    assert api.get("/api/v1/tasks", headers=other, query_string={"case_id": wanted}).get_json()["items"] == []


def test_a_malformed_case_filter_or_cursor_is_422_naming_the_field(api, stub):
    officer = _officer()
    assert "case_id" in problem(api.get("/api/v1/tasks", headers=officer,
                                        query_string={"case_id": "not-a-uuid"}), 422)["errors"]
    assert "instance_id" in problem(api.get("/api/v1/tasks", headers=officer, query_string={
        "case_id": "00000000-0000-4000-8000-000000000001",
        "instance_id": "00000000-0000-4000-8000-000000000002"}), 422)["errors"]
    for cursor in ("2", "bm90IGpzb24", "WzEsMiwzXQ"):  # an old offset, not JSON, wrong parts
        assert "cursor" in problem(api.get("/api/v1/tasks", headers=officer,
                                           query_string={"cursor": cursor}), 422)["errors"]


def test_the_queue_pages_by_keyset_so_a_task_completed_meanwhile_skips_nothing(api, stub):
    headers = make_token()
    for i in range(5):
        _case_waiting_for_decision(api, headers, application_no=f"EGOV-K-{i}")
    officer = _officer()
    everything = [t["id"] for t in api.get("/api/v1/tasks", headers=officer).get_json()["items"]]
    first = api.get("/api/v1/tasks", headers=officer, query_string={"limit": 2}).get_json()
    assert [t["id"] for t in first["items"]] == everything[:2]
    # Someone completes a task of the first page: an offset would now skip the third task.
    done = first["items"][0]["id"]
    api.post(f"/api/v1/tasks/{done}/claim", headers=officer)
    assert api.post(f"/api/v1/tasks/{done}/complete", headers=officer,
                    json={"data": {"outcome": "issued"}}).status_code == 200
    seen, cursor = [], first["next_cursor"]
    while cursor:
        page = api.get("/api/v1/tasks", headers=officer, query_string={"limit": 2, "cursor": cursor}).get_json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
    assert seen == everything[2:]


# --- completing a task is safe to retry (issue 14, item 7) ------------------------------------

def test_a_completion_retried_with_the_same_idempotency_key_answers_the_first_result(api, stub):
    case_id = _case_waiting_for_decision(api, make_token())
    headers = _officer("decider", assignee="Aliya Nurova")
    task_id = api.get("/api/v1/tasks", headers=headers).get_json()["items"][0]["id"]
    api.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    keyed = dict(headers, **{"Idempotency-Key": "decision-7f3a"})
    body = {"data": {"outcome": "issued", "comment": "ok"}}
    first = api.post(f"/api/v1/tasks/{task_id}/complete", headers=keyed, json=body)
    assert first.status_code == 200
    counts = table_counts()
    again = api.post(f"/api/v1/tasks/{task_id}/complete", headers=keyed, json=body)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    conforms(again, "/tasks/{task_id}/complete", "post")
    assert table_counts() == counts, "the retry changed nothing"
    assert cases.get(case_id).outcome_code == "issued"
    completions = [e for e in audit.trail(case_id) if e.event == "task_completed"]
    assert len(completions) == 1
    # Without the key a second completion is still a conflict: the client cannot tell it apart.
    problem(api.post(f"/api/v1/tasks/{task_id}/complete", headers=headers, json=body), 409)


def test_the_same_idempotency_key_with_another_body_is_refused_with_the_reason(api, stub):
    _case_waiting_for_decision(api, make_token())
    _case_waiting_for_decision(api, make_token("portal-2"), application_no="EGOV-T-2")
    headers = _officer()
    first_id, second_id = [t["id"] for t in api.get("/api/v1/tasks", headers=headers).get_json()["items"]]
    keyed = dict(headers, **{"Idempotency-Key": "k-1"})
    for task_id in (first_id, second_id):
        api.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    assert api.post(f"/api/v1/tasks/{first_id}/complete", headers=keyed,
                    json={"data": {"outcome": "issued"}}).status_code == 200
    counts = table_counts()
    other_body = problem(api.post(f"/api/v1/tasks/{first_id}/complete", headers=keyed,
                                  json={"data": {"outcome": "refused"}}), 422)
    assert "another body" in other_body["errors"]["Idempotency-Key"][0]
    other_task = problem(api.post(f"/api/v1/tasks/{second_id}/complete", headers=keyed,
                                  json={"data": {"outcome": "issued"}}), 422)
    assert "another task" in other_task["errors"]["Idempotency-Key"][0]
    assert table_counts() == counts
    assert api.get(f"/api/v1/tasks/{second_id}", headers=headers).get_json()["status"] == "ready"
    malformed = problem(api.post(f"/api/v1/tasks/{second_id}/complete", headers=dict(headers, **{
        "Idempotency-Key": "has space"}), json={"data": {"outcome": "issued"}}), 422)
    assert "Idempotency-Key" in malformed["errors"]


def test_a_completion_that_failed_keeps_no_key_so_the_corrected_retry_goes_through(api, stub):
    case_id = _case_waiting_for_decision(api, make_token())
    headers = _officer()
    task_id = api.get("/api/v1/tasks", headers=headers).get_json()["items"][0]["id"]
    api.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    keyed = dict(headers, **{"Idempotency-Key": "retry-me"})
    problem(api.post(f"/api/v1/tasks/{task_id}/complete", headers=keyed, json={"data": {"outcome": "maybe"}}), 422)
    done = api.post(f"/api/v1/tasks/{task_id}/complete", headers=keyed, json={"data": {"outcome": "refused"}})
    assert done.status_code == 200 and cases.get(case_id).outcome_code == "refused"
