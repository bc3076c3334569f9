"""Issue 15: what a client may not read or start through the API, and what it may not send.

Each scenario is one defect a review of the running service found; every one of them failed
before its fix.
"""
import json

import sqlalchemy as sa

from engine.db import db
from tests.conftest import deploy_sample
from tests.test_api_support import (  # noqa: F401  fixtures
    APPLICANT_IIN, api, api_app, application, conforms, issue_permit, make_token, problem, stub, submit,
    table_counts)

AST_CASE_READER = ("cases:read",)


def _case(api, stub):
    """An Astana issue case, waiting for the police."""
    response = submit(api, make_token("portal-ast", ["applications:write", "cases:read"], ["AST"]))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_id"]


# --- 1. the generic instance endpoint ----------------------------------------------------------

def test_an_instances_token_cannot_read_a_permit_case_through_the_generic_endpoint(api, stub):
    case_id = _case(api, stub)
    writer = make_token("integrator", ["instances:write"])
    response = api.get(f"/api/v1/process-instances/{case_id}", headers=writer)
    body = problem(response, 404)
    text = json.dumps(body)
    assert APPLICANT_IIN not in text and "FA1234567" not in text and "Karimov" not in text
    # The case itself stays readable under the case rules.
    assert api.get(f"/api/v1/cases/{case_id}", headers=make_token("reader", AST_CASE_READER, ["AST"])).status_code == 200


# --- 2. procedures the service starts itself ------------------------------------------------------

def test_a_client_cannot_start_a_validity_watch_for_another_regions_permit(api, api_app):
    from tests.permit_support import deploy_procedures
    deploy_procedures(api_app, "permit_validity")
    permit_no = issue_permit(api_app, region="AST")
    shymkent = make_token("shy-integrator", ["instances:write"], ["SHY"])
    before = table_counts()
    response = api.post("/api/v1/process-instances", headers=shymkent, json={
        "process_id": "permit_validity", "data": {"region": "SHY", "permit_no": permit_no}})
    body = problem(response, 422)
    assert "started by the service itself" in body["errors"]["process_id"][0]
    assert APPLICANT_IIN not in json.dumps(body) and "Karimov" not in json.dumps(body)
    assert table_counts() == before


def test_a_process_marked_internal_cannot_be_started_from_outside(migrated_database):
    from tests.conftest import running_app
    for app in running_app(INTERNAL_PROCESSES=["sample_review"]):
        deploy_sample(app)
        response = app.test_client().post("/api/v1/process-instances", headers=make_token(scopes=["instances:write"]),
                                          json={"process_id": "sample_review", "data": {"region": "AST"}})
        assert "process_id" in problem(response, 422)["errors"]


# --- 3. message ids belong to the client that sent them ------------------------------------------

def test_another_regions_message_id_resent_reveals_nothing(api, stub):
    case_id = _case(api, stub)
    police_ast = make_token("police-ast", ["messages:write"], ["AST"])
    first = api.post("/api/v1/messages/police_reply", headers=police_ast, json={
        "message_id": "ismp-1", "correlation": case_id, "payload": {"verdict": "approve"}})
    assert first.status_code == 202, first.get_json()
    police_shy = make_token("police-shy", ["messages:write"], ["SHY"])
    bogus = api.post("/api/v1/messages/police_reply", headers=police_shy, json={
        "message_id": "ismp-1", "correlation": "00000000-0000-4000-8000-000000000000",
        "payload": {"verdict": "approve"}})
    body = problem(bogus, 404)
    assert case_id not in json.dumps(body) and body.get("duplicate") is not True
    # The sender itself still gets its first result back, safely retried.
    again = api.post("/api/v1/messages/police_reply", headers=police_ast, json={
        "message_id": "ismp-1", "correlation": case_id, "payload": {"verdict": "approve"}})
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert again.get_json()["case_id"] == case_id


# --- 5. four eyes by the authenticated identity --------------------------------------------------

def test_an_officer_client_cannot_confirm_a_revocation_it_initiated_under_a_padded_name(api, api_app):
    from engine import tasks
    from tests.permit_support import deploy_procedures, load_reference
    load_reference(api_app)
    deploy_procedures(api_app)
    api_app.config["PROCEDURES"] = {"issue": "permit_issue", "extension": "permit_extension",
                                    "revocation": "permit_revocation"}
    permit_no = issue_permit(api_app, region="AST")
    robot = make_token("robot-ast", ["revocations:write", "tasks:write"], ["AST"], role="officer",
                       assignee="robot-ast")
    started = api.post(f"/api/v1/permits/{permit_no}/revocations", headers=robot, json={
        "ground": "false_documents", "details": "Forged certificate.",
        "initiator": {"type": "officer", "id": "robot-ast "}})
    assert started.status_code == 201, started.get_json()
    case_id = started.get_json()["case_id"]
    task = db.session.execute(sa.select(tasks.HumanTask).filter_by(instance_id=case_id, status=tasks.READY)
                              ).scalar_one()
    assert api.post(f"/api/v1/tasks/{task.id}/claim", headers=robot).status_code == 200
    confirm = api.post(f"/api/v1/tasks/{task.id}/complete", headers=robot,
                       json={"data": {"decision": "confirm", "comment": "Confirmed."}})
    assert "four-eyes" in problem(confirm, 403)["detail"]


def test_a_client_acting_as_no_officer_cannot_initiate_as_an_officer(api, stub, api_app):
    permit_no = issue_permit(api_app, region="AST")
    portal = make_token("portal", ["revocations:write"], ["AST"], role=None)
    response = api.post(f"/api/v1/permits/{permit_no}/revocations", headers=portal, json={
        "ground": "false_documents", "details": "x", "initiator": {"type": "officer", "id": "aigul"}})
    problem(response, 403)


def test_four_eyes_treats_spacing_and_case_of_an_officer_id_as_the_same_person():
    from handlers.revocations import same_person
    assert same_person("robot-ast ", "robot-ast") and same_person("Robot-AST", "robot-ast")
    assert not same_person("robot-ast", "robot-shy") and not same_person("", "")


# --- 8. IINs out of URLs ---------------------------------------------------------------------------

def test_a_client_searches_cases_and_permits_by_iin_in_the_body(api, stub, api_app):
    case_id = _case(api, stub)
    permit_no = issue_permit(api_app, region="AST")
    reader = make_token("reader", ["cases:read", "permits:read"], ["AST"])
    cases = api.post("/api/v1/cases/search", headers=reader, json={"applicant_iin": APPLICANT_IIN})
    assert cases.status_code == 200
    conforms(cases, "/cases/search", "post")
    assert [c["case_id"] for c in cases.get_json()["items"]] == [case_id]
    permits = api.post("/api/v1/permits/search", headers=reader, json={"holder_iin": APPLICANT_IIN})
    assert permits.status_code == 200
    conforms(permits, "/permits/search", "post")
    assert [p["permit_no"] for p in permits.get_json()["items"]] == [permit_no]
    assert "holder_iin" in problem(api.post("/api/v1/permits/search", headers=reader,
                                            json={"holder_iin": "123"}), 422)["errors"]
    # The GET forms keep working for the clients that use them.
    assert api.get(f"/api/v1/permits?holder_iin={APPLICANT_IIN}", headers=reader).status_code == 200


# --- 11. invisible characters in names ---------------------------------------------------------------

def test_a_name_with_a_bidirectional_override_or_a_zero_width_character_is_refused(api, stub):
    headers = make_token("portal", ["applications:write"])
    before = table_counts()
    for field, value in (("applicant.last_name", "Kari\u202emov"), ("applicant.first_name", "A\u200bziz"),
                         ("employer.full_name", "\u2066Sadykova\u2069"), ("applicant.patronymic", "\ufeffX")):
        body = problem(submit(api, headers, **{field: value}), 422)
        assert field in body["errors"], (field, body["errors"])
        assert "zero-width" in body["errors"][field][0]
    assert table_counts() == before


# --- 12. the incident object matches the document -----------------------------------------------------

def test_an_instance_in_an_incident_answers_as_the_document_says(api, api_app):
    deploy_sample(api_app)
    headers = make_token("analyst", ["instances:write"])
    response = api.post("/api/v1/process-instances", headers=headers, json={
        "process_id": "sample_review", "data": {"region": "AST", "subject": "s", "scores": {"a": "x", "b": 1, "c": 1}}})
    assert response.status_code == 201 and response.get_json()["status"] == "incident", response.get_json()
    conforms(response, "/process-instances", "post")
    read = api.get(f"/api/v1/process-instances/{response.get_json()['id']}", headers=headers)
    conforms(read, "/process-instances/{instance_id}", "get")
    assert read.get_json()["incident"]["task_id"]
