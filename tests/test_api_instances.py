"""/process-instances and /process-definitions, with the sample diagram (tests/bpmn/sample.bpmn)."""
import io

import sqlalchemy as sa

from engine import audit, definitions, tasks
from engine.db import db
from tests.conftest import SAMPLE_BPMN, SAMPLE_FORMS, deploy_sample
from tests.test_api_support import (  # noqa: F401  fixtures
    STUB_PROCESS, api, api_app, conforms, make_token, problem, table_counts)

SAMPLE_DATA = {"subject": "a new process", "scores": {"a": 1, "b": 2, "c": 3}, "region": "AST"}


def _start(api, headers, **body):
    return api.post("/api/v1/process-instances", headers=headers,
                    json={"process_id": "sample_review", "data": SAMPLE_DATA, **body})


def _upload(api, headers, bpmn=None, forms=None, path="/api/v1/process-definitions", filename="sample.bpmn",
            comment=None):
    data = {"bpmn": (io.BytesIO(bpmn if bpmn is not None else SAMPLE_BPMN.read_bytes()), filename)}
    if comment is not None:
        data["comment"] = comment
    if forms is None:
        forms = {"review.schema.json": (SAMPLE_FORMS / "review.schema.json").read_bytes()}
    data["forms"] = [(io.BytesIO(raw), name) for name, raw in forms.items()]
    return api.post(path, headers=headers, data=data, content_type="multipart/form-data")


def test_an_instance_of_a_deployed_process_starts_and_reads(api, api_app):
    deploy_sample(api_app)
    headers = make_token(name="analyst", scopes=["instances:write"])
    response = _start(api, headers, business_key="BK-1")
    assert response.status_code == 201, response.get_json()
    conforms(response, "/process-instances", "post")
    instance = response.get_json()
    assert instance["process_id"] == "sample_review" and instance["version"] == 1
    assert instance["status"] == "in_progress" and instance["business_key"] == "BK-1"
    [step] = instance["current_steps"]
    assert step == {"name": "Review the request", "lane": "Officer", "due_at": None, "task_id": step["task_id"]}
    assert db.session.get(tasks.HumanTask, step["task_id"]).bpmn_id == "review", "the step names its human task"
    assert instance["data"]["collected"]["subject"] == "a new process"
    assert response.headers["Location"] == f"/api/v1/process-instances/{instance['id']}"
    assert audit.trail(instance["id"])[0].actor == "api:analyst"
    again = api.get(f"/api/v1/process-instances/{instance['id']}", headers=headers)
    assert again.status_code == 200
    conforms(again, "/process-instances/{instance_id}", "get")
    assert again.get_json()["id"] == instance["id"]


def test_starting_refuses_what_cannot_start(api, api_app):
    deploy_sample(api_app)
    headers = make_token(scopes=["instances:write"])
    before = table_counts()
    problem(_start(api, headers, process_id="no_such_process"), 404)
    assert "process_id" in problem(_start(api, headers, process_id=STUB_PROCESS), 422)["errors"]
    assert "data.region" in problem(_start(api, headers, data={**SAMPLE_DATA, "region": "XX"}), 422)["errors"]
    assert "__builtins__" in problem(_start(api, headers, data={**SAMPLE_DATA, "__builtins__": 1}), 422)["errors"]
    assert "data" in problem(_start(api, headers, data=[1, 2]), 422)["errors"]
    assert "extra" in problem(_start(api, headers, extra=1), 422)["errors"]
    assert table_counts() == before


def test_instances_follow_scopes_and_regions(api, api_app):
    deploy_sample(api_app)
    instance_id = _start(api, make_token(scopes=["instances:write"])).get_json()["id"]
    problem(_start(api, make_token("reader", ["cases:read"])), 403)
    almaty = make_token("almaty", ["instances:write"], ["ALA"])
    problem(_start(api, almaty), 403)
    problem(_start(api, almaty, data={"subject": "x", "scores": {"a": 1, "b": 1, "c": 1}}), 403)
    problem(api.get(f"/api/v1/process-instances/{instance_id}", headers=almaty), 403)
    problem(api.get("/api/v1/process-instances/00000000-0000-4000-8000-000000000000",
                    headers=make_token("x", ["instances:write"])), 404)


def test_definitions_list_the_newest_version_of_each_process(api, api_app):
    deploy_sample(api_app)
    headers = make_token(scopes=["instances:write"])
    response = api.get("/api/v1/process-definitions", headers=headers)
    assert response.status_code == 200
    conforms(response, "/process-definitions", "get")
    assert [(d["process_id"], d["version"]) for d in response.get_json()["items"]] == [("sample_review", 1)]
    versions = api.get("/api/v1/process-definitions", headers=headers, query_string={"process_id": "sample_review"})
    assert len(versions.get_json()["items"]) == 1
    problem(api.get("/api/v1/process-definitions", headers=make_token("r", ["cases:read"])), 403)


def test_deploying_a_bpmn_file_with_its_form_makes_a_version_once(api, api_app):
    headers = make_token(name="modeler", scopes=["definitions:write"])
    response = _upload(api, headers)
    assert response.status_code == 201, response.get_json()
    conforms(response, "/process-definitions", "post")
    assert response.get_json()["deployed"][0]["process_id"] == "sample_review"
    assert response.get_json()["deployed"][0]["version"] == 1
    assert definitions.latest("sample_review").deployed_by == "api:modeler"
    again = _upload(api, headers)
    assert again.status_code == 200 and again.get_json()["deployed"][0]["created"] is False


def test_a_diagram_that_fails_validation_is_refused_with_every_problem(api, api_app):
    headers = make_token(scopes=["definitions:write"])
    broken = SAMPLE_BPMN.read_bytes().replace(b'<bpmndi:BPMNShape id="review_di"', b'<bpmndi:BPMNShape id="x_di" ')
    broken = broken.replace(b'bpmnElement="review"><dc:Bounds', b'bpmnElement="nothing"><dc:Bounds')
    broken = broken.replace(b'id="sample.record"', b'id="no.such.operator"')
    before = table_counts()
    response = _upload(api, headers, bpmn=broken)
    body = problem(response, 422)
    conforms(response, "/process-definitions", "post")
    assert "review" in body["errors"] and "record" in body["errors"], body
    assert {"element_id", "reason"} <= body["problems"][0].keys()
    assert table_counts() == before
    report = _upload(api, headers, bpmn=broken, path="/api/v1/process-definitions/validate")
    assert report.status_code == 200
    conforms(report, "/process-definitions/validate", "post")
    assert report.get_json()["valid"] is False
    assert {p["element_id"] for p in report.get_json()["problems"]} >= {"review", "record"}
    assert table_counts() == before


def test_validating_a_good_diagram_deploys_nothing(api, api_app):
    headers = make_token(scopes=["definitions:write"])
    report = _upload(api, headers, path="/api/v1/process-definitions/validate")
    assert report.get_json() == {"valid": True, "problems": []}
    assert definitions.latest("sample_review") is None


def test_uploads_must_be_multipart_with_a_bpmn_file_and_need_the_scope(api, api_app):
    headers = make_token(scopes=["definitions:write"])
    problem(api.post("/api/v1/process-definitions", headers=headers, json={"bpmn": "<xml/>"}), 415)
    missing = api.post("/api/v1/process-definitions", headers=headers, data={}, content_type="multipart/form-data")
    assert "bpmn" in problem(missing, 422)["errors"]
    as_text = api.post("/api/v1/process-definitions", headers=headers, data={"bpmn": "<xml/>"},
                       content_type="multipart/form-data")
    assert "bpmn" in problem(as_text, 422)["errors"]
    problem(_upload(api, make_token("runner", ["instances:write"])), 403)
    garbage = _upload(api, headers, bpmn=b"\x00\xffnot xml", forms={})
    assert problem(garbage, 422)["errors"]


def test_data_nested_too_deep_is_refused(api, api_app):
    deploy_sample(api_app)
    deep = {}
    for _ in range(40):
        deep = {"x": deep}
    response = _start(api, make_token(scopes=["instances:write"]), data={**SAMPLE_DATA, "deep": deep})
    assert "data" in problem(response, 422)["errors"]


def test_a_deploy_with_a_comment_appears_in_the_version_history_and_the_file_downloads(api, api_app):
    headers = make_token(name="modeler", scopes=["definitions:write"])
    first = _upload(api, headers, comment="First version of the review")
    assert first.status_code == 201, first.get_json()
    changed = SAMPLE_BPMN.read_bytes().replace(b'name="Review the request"', b'name="Second look"')
    second = _upload(api, headers, bpmn=changed, comment="Renamed the review task")
    assert second.status_code == 201
    history = api.get("/api/v1/process-definitions", headers=headers, query_string={"process_id": "sample_review"})
    conforms(history, "/process-definitions", "get")
    assert [(d["version"], d["deployed_by"], d["comment"]) for d in history.get_json()["items"]] == [
        (2, "api:modeler", "Renamed the review task"), (1, "api:modeler", "First version of the review")]
    deployed = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="definition_deployed")
                                  .order_by(audit.AuditEvent.id)).scalars()
    assert [e.details["comment"] for e in deployed] == ["First version of the review", "Renamed the review task"]
    newest = history.get_json()["items"][0]["id"]
    download = api.get(f"/api/v1/process-definitions/{newest}/bpmn", headers=headers)
    assert download.status_code == 200 and download.mimetype == "application/xml"
    assert download.get_data() == changed
    assert 'filename="sample_review-v2.bpmn"' in download.headers["Content-Disposition"]
    problem(api.get("/api/v1/process-definitions/999999/bpmn", headers=headers), 404)


def test_a_comment_that_is_too_long_is_refused_and_nothing_is_deployed(api, api_app):
    headers = make_token(scopes=["definitions:write"])
    response = _upload(api, headers, comment="x" * 2001)
    assert "comment" in problem(response, 422)["errors"]
    assert definitions.latest("sample_review") is None
