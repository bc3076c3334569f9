"""Whole cases through the API only, on the real issue procedure (processes/permit_issue.bpmn):
the portal submits, the police system replies, an integration acting as an officer decides."""
import pytest
import time_machine

from engine import instances
from handlers import quota
from tests.permit_support import (APPLICANT_IIN, almaty, application, deploy_procedures, load_reference,
                                  run_worker)
from tests.test_api_support import conforms, make_token, problem

FILED = almaty(2026, 6, 10, 10, 0)  # a Wednesday
PERIOD = {"months": 12, "start_date": "2026-07-01"}  # a permit starts on the day of filing or later
ISSUE = {"data_matches": True, "decision": "issue"}


@pytest.fixture
def service(app):
    load_reference(app)
    deploy_procedures(app, "permit_issue")
    return app


@pytest.fixture
def clients(service):
    return {"portal": make_token("egov-portal", ["applications:write", "cases:read", "permits:read"]),
            "police": make_token("is-mp", ["messages:write"]),
            "officer": make_token("akimat-ast", ["tasks:write"], regions=["AST"], role="officer",
                                  assignee="aigul.officer")}


def _submit_and_reply(client, clients, verdict="approve", reason=None):
    response = client.post("/api/v1/applications", json=application(period=PERIOD), headers=clients["portal"])
    assert response.status_code == 201, response.get_json()
    case = response.get_json()
    assert case["status"] == "in_progress"
    # Accepted at once: the checks and the police request are a worker's, after the filing committed.
    assert [s["name"] for s in case["current_steps"]] == ["Fix the filing day and the terms in force"]
    run_worker()
    case = client.get(f"/api/v1/cases/{case['case_id']}", headers=clients["portal"]).get_json()
    assert [s["name"] for s in case["current_steps"]] == ["Wait for the police answer"]
    reply = client.post("/api/v1/messages/police_reply", headers=clients["police"], json={
        "message_id": f"ismp-{case['case_id']}", "correlation": case["case_id"],
        "payload": {"verdict": verdict, "reason": reason}})
    assert reply.status_code == 202, reply.get_json()
    return case["case_id"]


def test_a_permit_is_issued_through_the_api_and_reads_by_number_and_by_holder(client, clients):
    with time_machine.travel(FILED, tick=False):
        case_id = _submit_and_reply(client, clients)
    with time_machine.travel(almaty(2026, 6, 11, 15, 0), tick=False):
        queue = client.get("/api/v1/tasks", headers=clients["officer"]).get_json()["items"]
        assert [(t["case_id"], t["name"]) for t in queue] == [(case_id, "Decide on the permit")]
        task_id = queue[0]["id"]
        task = client.get(f"/api/v1/tasks/{task_id}", headers=clients["officer"]).get_json()
        assert task["form"]["name"] == "decision.schema.json" and "decision" in task["form"]["schema"]["properties"]
        assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=clients["officer"]).status_code == 200
        done = client.post(f"/api/v1/tasks/{task_id}/complete", headers=clients["officer"], json={"data": ISSUE})
        assert done.status_code == 200, done.get_json()

        response = client.get(f"/api/v1/cases/{case_id}", headers=clients["portal"])
    conforms(response, "/cases/{case_id}", "get")
    case = response.get_json()
    assert case["status"] == "completed", instances.get(case_id).incident()
    assert case["outcome"]["code"] == "issued"
    assert case["outcome"]["decided_by"] == "aigul.officer"
    deadlines = {d["name"]: d["met"] for d in case["deadlines"]}
    assert deadlines["police_answer"] is True and deadlines["decision"] is True
    permit_no = case["permit"]["permit_no"]
    assert permit_no.startswith("AST-2026-") and case["permit_no"] == permit_no

    by_number = client.get(f"/api/v1/permits/{permit_no}", headers=clients["portal"])
    conforms(by_number, "/permits/{permit_no}", "get")
    permit = by_number.get_json()
    assert permit["status"] == "active" and permit["holder"]["iin"] == APPLICANT_IIN
    assert permit["valid_from"] == "2026-07-01" and permit["valid_to"] == "2027-06-30"
    by_holder = client.get("/api/v1/permits", headers=clients["portal"], query_string={"holder_iin": APPLICANT_IIN})
    assert [p["permit_no"] for p in by_holder.get_json()["items"]] == [permit_no]


def test_a_police_objection_through_the_api_refuses_with_its_ground(client, clients):
    with time_machine.travel(FILED, tick=False):
        case_id = _submit_and_reply(client, clients, verdict="object", reason="entry ban until 2027")
        case = client.get(f"/api/v1/cases/{case_id}", headers=clients["portal"]).get_json()
    assert case["status"] == "completed" and case["outcome"]["code"] == "refused"
    assert [g["code"] for g in case["outcome"]["grounds"]] == ["police_objection"]
    assert {"check", "evidence", "legal_basis"} <= case["outcome"]["grounds"][0].keys()
    assert case["permit"] is None


def test_a_withdrawn_application_frees_its_quota_hold_and_leaves_the_inbox(client, clients):
    with time_machine.travel(FILED, tick=False):
        case_id = _submit_and_reply(client, clients)
        assert quota.usage("AST", 2026)["held"] == 1
        assert len(client.get("/api/v1/tasks", headers=clients["officer"]).get_json()["items"]) == 1
        response = client.post(f"/api/v1/cases/{case_id}/withdrawal", headers=clients["portal"],
                               json={"reason": "the applicant left"})
    assert response.status_code == 200 and response.get_json()["outcome"]["code"] == "withdrawn"
    assert quota.usage("AST", 2026)["held"] == 0
    assert client.get("/api/v1/tasks", headers=clients["officer"]).get_json()["items"] == []
    late = client.post("/api/v1/messages/police_reply", headers=clients["police"], json={
        "message_id": "late-1", "correlation": case_id, "payload": {"verdict": "approve"}})
    problem(late, 409)
