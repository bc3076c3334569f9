"""GET /cases/{id}, GET /cases, POST /cases/{id}/withdrawal."""
from datetime import timedelta

import sqlalchemy as sa
import time_machine

from engine import clock, tasks
from engine.db import db
from handlers import cases, quota, reference
from tests.test_api_support import (  # noqa: F401  fixtures
    OTHER_IIN, api, api_app, conforms, make_token, problem, stub, submit, table_counts,
    today)


def _reply(api, headers, case_id, verdict="approve", message_id=None):
    return api.post("/api/v1/messages/police_reply", headers=headers, json={
        "message_id": message_id or f"mp-{case_id}", "correlation": case_id,
        "payload": {"verdict": verdict, "reason": None if verdict == "approve" else "listed"}})


def test_a_case_reads_as_it_was_answered_on_submission(api, stub):
    headers = make_token()
    created = submit(api, headers).get_json()
    response = api.get(f"/api/v1/cases/{created['case_id']}", headers=headers)
    assert response.status_code == 200
    conforms(response, "/cases/{case_id}", "get")
    assert response.get_json() == created


def test_after_the_police_reply_the_case_waits_for_the_officer_with_the_decision_deadline(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    assert _reply(api, headers, case_id).status_code == 202
    case = api.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()
    decision = next(d for d in case["deadlines"] if d["name"] == "decision")
    [task] = api.get(f"/api/v1/tasks?case_id={case_id}", headers=headers).get_json()["items"]
    assert case["current_steps"] == [{"name": "Decide", "lane": "Officer", "due_at": case["current_steps"][0]["due_at"],
                                      "task_id": task["id"]}]
    step_due = case["current_steps"][0]["due_at"]
    assert decision["rule"].startswith("working_days(2")
    assert step_due == decision["due_at"]  # shown in Asia/Almaty, as the deadline
    assert [h["event"] for h in case["history"]][:2] == ["instance_started", "message_delivered"]


def test_a_decided_case_is_completed_with_its_outcome_and_met_deadlines(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    _reply(api, headers, case_id)
    task_id = api.get("/api/v1/tasks", headers=headers).get_json()["items"][0]["id"]
    api.post(f"/api/v1/tasks/{task_id}/claim", headers=headers)
    done = api.post(f"/api/v1/tasks/{task_id}/complete", headers=headers, json={"data": {"outcome": "refused"}})
    assert done.status_code == 200, done.get_json()
    response = api.get(f"/api/v1/cases/{case_id}", headers=headers)
    conforms(response, "/cases/{case_id}", "get")
    case = response.get_json()
    assert case["status"] == "completed" and case["current_steps"] == []
    assert case["outcome"]["code"] == "refused" and case["outcome"]["grounds"] == []
    assert case["outcome"]["decided_at"] is not None and case["decided_at"] is not None
    assert all(d["met"] is True for d in case["deadlines"])


def test_a_deadline_that_passed_without_an_outcome_is_not_met(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    _reply(api, headers, case_id)
    with time_machine.travel(clock.now() + timedelta(days=10)):
        case = api.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()
    # The police answered at once (their timer was cancelled in time): met, though the case is
    # still open; the officer's decision is awaited past its due time: overdue, not met.
    assert {d["name"]: (d["met"], d["state"]) for d in case["deadlines"]} == {
        "police": (True, "met"), "decision": (False, "overdue")}


def test_an_unknown_case_is_404_and_a_case_id_that_is_no_uuid_too(api, stub):
    headers = make_token()
    problem(api.get("/api/v1/cases/00000000-0000-4000-8000-000000000000", headers=headers), 404)
    problem(api.get("/api/v1/cases/not-a-uuid", headers=headers), 404)


def test_reading_a_case_needs_a_token_the_scope_and_the_region(api, stub):
    case_id = submit(api, make_token()).get_json()["case_id"]
    response = api.get(f"/api/v1/cases/{case_id}")
    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    problem(api.get(f"/api/v1/cases/{case_id}", headers={"Authorization": "Bearer nonsense"}), 401)
    problem(api.get(f"/api/v1/cases/{case_id}", headers={"Authorization": "Basic dXNlcjpwdw=="}), 401)
    problem(api.get(f"/api/v1/cases/{case_id}", headers=make_token("writer", ["applications:write"])), 403)
    problem(api.get(f"/api/v1/cases/{case_id}", headers=make_token("almaty", ["cases:read"], ["ALA"])), 403)
    ok = api.get(f"/api/v1/cases/{case_id}", headers=make_token("astana", ["cases:read"], ["AST", "ALA"]))
    assert ok.status_code == 200


def test_a_revoked_token_is_refused_at_once(api, stub):
    from web.api import clients
    headers = make_token("gone", ["cases:read"])
    assert api.get("/api/v1/cases", headers=headers).status_code == 200
    clients.revoke("gone", actor="test")
    problem(api.get("/api/v1/cases", headers=headers), 401)


def test_cases_list_newest_first_in_pages_with_a_cursor(api, stub):
    headers = make_token()
    start = clock.now()
    ids = []
    for i in range(5):
        with time_machine.travel(start + timedelta(minutes=i), tick=False):
            ids.append(submit(api, headers, application_no=f"EGOV-LIST-{i:03d}").get_json()["case_id"])
    seen, cursor = [], None
    while True:
        response = api.get("/api/v1/cases", headers=headers, query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200
        conforms(response, "/cases", "get")
        page = response.get_json()
        assert len(page["items"]) <= 2
        seen += [item["case_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


def test_cases_in_progress_page_by_their_own_cursor_newest_first_without_repeats(api, stub):
    headers = make_token()
    start = clock.now()
    ids = []
    for i in range(4):
        with time_machine.travel(start + timedelta(minutes=i), tick=False):
            ids.append(submit(api, headers, application_no=f"EGOV-OPEN-{i:03d}").get_json()["case_id"])
    api.post(f"/api/v1/cases/{ids[1]}/withdrawal", headers=headers)
    seen, cursor = [], None
    while True:
        query = {"limit": 1, "status": "in_progress", "region": "AST", **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/cases", headers=headers, query_string=query).get_json()
        seen += [item["case_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids[3], ids[2], ids[0]]


def test_cases_filter_by_status_kind_region_outcome_applicant_and_creation_time(api, stub):
    headers = make_token()
    first = clock.now()
    with time_machine.travel(first, tick=False):
        a = submit(api, headers, application_no="A-1").get_json()["case_id"]
    with time_machine.travel(first + timedelta(hours=1), tick=False):
        b = submit(api, headers, application_no="A-2", region="ALA", **{"applicant.iin": OTHER_IIN,
                                                                          "tax_payment.payer_iin": OTHER_IIN}
                   ).get_json()["case_id"]
    api.post(f"/api/v1/cases/{b}/withdrawal", headers=headers)

    def ids(**query):
        response = api.get("/api/v1/cases", headers=headers, query_string=query)
        assert response.status_code == 200, response.get_json()
        return [item["case_id"] for item in response.get_json()["items"]]

    assert ids() == [b, a]
    assert ids(status="in_progress") == [a]
    assert ids(status="completed") == [b]
    assert ids(status="incident") == []
    assert ids(kind="issue") == [b, a] and ids(kind="extension") == []
    assert ids(region="ALA") == [b]
    assert ids(outcome="withdrawn") == [b]
    assert ids(applicant_iin=OTHER_IIN) == [b]
    assert ids(created_from=(first + timedelta(minutes=30)).isoformat()) == [b]
    assert ids(created_to=(first + timedelta(minutes=30)).isoformat()) == [a]


def test_a_token_limited_to_regions_lists_only_their_cases(api, stub):
    headers = make_token()
    a = submit(api, headers, application_no="R-1").get_json()["case_id"]
    submit(api, headers, application_no="R-2", region="ALA")
    almaty_only = make_token("akimat", ["cases:read"], ["AST"])
    items = api.get("/api/v1/cases", headers=almaty_only).get_json()["items"]
    assert [i["case_id"] for i in items] == [a]
    problem(api.get("/api/v1/cases", headers=almaty_only, query_string={"region": "ALA"}), 403)


def test_malformed_list_queries_are_422(api, stub):
    headers = make_token()
    for query, field in [({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"limit": "x"}, "limit"),
                         ({"status": "open"}, "status"), ({"region": "XX"}, "region"),
                         ({"applicant_iin": "123456789012"}, "applicant_iin"),
                         ({"created_from": "2026-01-01T00:00:00"}, "created_from"),
                         ({"created_from": "2026-02-01T00:00:00Z", "created_to": "2026-01-01T00:00:00Z"}, "created_to"),
                         ({"cursor": "bm90IGEgY3Vyc29y"}, "cursor"), ({"colour": "red"}, "colour")]:
        response = api.get("/api/v1/cases", headers=headers, query_string=query)
        assert field in problem(response, 422)["errors"], (query, response.get_json())
        conforms(response, "/cases", "get")


def test_withdrawing_ends_the_case_releases_its_quota_hold_and_empties_the_inboxes(api, api_app, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    _reply(api, headers, case_id)
    year = today().year
    reference.set_quota("AST", year, 10, actor="test", regions=api_app.config["REGIONS"])
    quota.hold_unit(db.session, region="AST", year=year, instance_id=case_id, now=clock.now())
    db.session.commit()
    assert quota.usage("AST", year)["held"] == 1
    officer = tasks.Actor("aliya", frozenset({"officer"}), None)
    assert len(tasks.queue(officer)) == 1

    response = api.post(f"/api/v1/cases/{case_id}/withdrawal", headers=headers,
                        json={"reason": "found another job"})
    assert response.status_code == 200, response.get_json()
    conforms(response, "/cases/{case_id}/withdrawal", "post")
    case = response.get_json()
    assert case["status"] == "completed" and case["outcome"]["code"] == "withdrawn"
    assert case["outcome"]["decided_by"] == "api:portal" and case["current_steps"] == []
    assert quota.usage("AST", year)["held"] == 0
    assert tasks.queue(officer) == []
    assert db.session.execute(sa.select(tasks.HumanTask.status)).scalars().all() == ["cancelled"]
    assert "case_withdrawn" in [h["event"] for h in case["history"]]
    assert api.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()["outcome"]["code"] == "withdrawn"


def test_withdrawing_again_answers_the_withdrawn_case(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    api.post(f"/api/v1/cases/{case_id}/withdrawal", headers=headers)
    before = table_counts()
    again = api.post(f"/api/v1/cases/{case_id}/withdrawal", headers=headers)
    assert again.status_code == 200 and again.get_json()["outcome"]["code"] == "withdrawn"
    assert table_counts() == before


def test_a_decided_case_cannot_be_withdrawn(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    case = cases.get(case_id)
    case.outcome_code, case.outcome = "refused", {"code": "refused", "grounds": []}
    db.session.commit()
    before = table_counts()
    problem(api.post(f"/api/v1/cases/{case_id}/withdrawal", headers=headers), 409)
    assert table_counts() == before


def test_withdrawal_needs_the_applications_scope_and_the_region(api, stub):
    case_id = submit(api, make_token()).get_json()["case_id"]
    problem(api.post(f"/api/v1/cases/{case_id}/withdrawal", headers=make_token("reader", ["cases:read"])), 403)
    problem(api.post(f"/api/v1/cases/{case_id}/withdrawal",
                     headers=make_token("elsewhere", ["applications:write"], ["ALA"])), 403)
    problem(api.post("/api/v1/cases/00000000-0000-4000-8000-000000000000/withdrawal", headers=make_token("w2")), 404)
    response = api.post(f"/api/v1/cases/{case_id}/withdrawal", headers=make_token("w3"), data="reason",
                        content_type="text/plain")
    problem(response, 415)
    assert cases.get(case_id).outcome_code is None


def test_unknown_paths_and_methods_under_the_api_are_problems(api, stub):
    problem(api.get("/api/v1/nowhere"), 404)
    response = api.delete("/api/v1/cases")
    problem(response, 405)
    assert "GET" in response.headers["Allow"]
