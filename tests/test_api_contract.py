"""Every operation of the OpenAPI document, called for real, answers the shape the document gives.

The answers are dumped through the schemas the document is made from (web/api/operation.py);
these tests take the document as a client does (GET /api/v1/openapi.json) and validate each real
answer against the schema it declares for that status: the successes of a permit's whole life on
the real procedures, and problem answers (401, 422, 404 and 409 with their extra fields).
"""
from __future__ import annotations

import io
import json
import logging
from datetime import datetime

import pytest
import time_machine
from flask_babel import refresh
from jsonschema import Draft202012Validator, FormatChecker

from engine.db import db
from tests import permit_support as ps
from tests.conftest import SAMPLE_BPMN, SAMPLE_FORMS
from tests.test_api_support import ALL_SCOPES, OTHER_IIN, issue_permit, make_token
from tests.test_operate_migration import deploy_changed

FILED = ps.almaty(2026, 3, 20, 10, 0)
SECOND_FILED = ps.almaty(2026, 3, 20, 11, 0)


def _date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return datetime.fromisoformat(value).tzinfo is not None  # a time with its zone
    except ValueError:
        return False


FORMATS = FormatChecker()
FORMATS.checks("date-time")(_date_time)


class Contract:
    """Calls operations and checks each answer against the document a client downloads."""

    def __init__(self, api, headers):
        self.api, self.headers = api, headers
        self.spec = api.get("/api/v1/openapi.json").get_json()
        self.seen: set[tuple[str, str]] = set()
        self.statuses: dict[tuple[str, str], set[int]] = {}

    def call(self, method: str, path: str, expect: int, *, url: str | None = None, headers=None, **kwargs):
        response = self.api.open("/api/v1" + (url or path), method=method,
                                 headers=self.headers if headers is None else headers, **kwargs)
        assert response.status_code == expect, (method, url or path, response.get_data(as_text=True)[:3000])
        self.check(response, path, method)
        self.seen.add((method.lower(), path))
        self.statuses.setdefault((method.lower(), path), set()).add(expect)
        return response

    def check(self, response, path: str, method: str):
        operation = self.spec["paths"][path][method.lower()]
        declared = operation["responses"].get(str(response.status_code))
        assert declared is not None, f"{method} {path} does not declare {response.status_code}"
        if "$ref" in declared:
            declared = self.spec["components"]["responses"][declared["$ref"].rsplit("/", 1)[-1]]
        content = declared.get("content") or {}
        assert response.mimetype in content, (method, path, response.mimetype, list(content))
        if response.mimetype.endswith("json"):
            self.validate(response.get_json(), content[response.mimetype]["schema"], f"{method} {path}")
        elif content[response.mimetype]["schema"].get("type") == "string":
            assert response.get_data()

    def validate(self, body, schema: dict, where: str):
        # The whole document is the root, so #/components/schemas/... resolve as a client's would.
        root = {**self.spec, **schema}
        errors = sorted(Draft202012Validator(root, format_checker=FORMATS).iter_errors(body),
                        key=lambda e: list(e.absolute_path))
        assert not errors, f"{where}: " + "; ".join(
            f"{'.'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:300]}" for e in errors)

    def operations(self) -> set[tuple[str, str]]:
        return {(method, path) for path, item in self.spec["paths"].items() for method in item}


def _upload(path, name="sample.bpmn", **fields):
    data = {"bpmn": (io.BytesIO(path.read_bytes()), name), **fields}
    data["forms"] = [(io.BytesIO((SAMPLE_FORMS / "review.schema.json").read_bytes()), "review.schema.json")]
    return {"data": data, "content_type": "multipart/form-data"}


@pytest.fixture
def contract(app):
    return Contract(app.test_client(), make_token("contract", ALL_SCOPES, role="officer"))


def test_every_operation_answers_the_shape_its_document_gives(app, contract, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    c = contract
    ps.deploy_procedures(app)
    ps.load_reference(app, quota=5)
    db.session.commit()

    # --- the service itself -------------------------------------------------------------------
    c.call("GET", "/health", 200, headers={})
    c.call("GET", "/openapi.json", 200, headers={})
    c.call("GET", "/docs", 200, headers={})

    with time_machine.travel(FILED, tick=False):
        # --- an application, its case, the police, the officer: a permit ----------------------
        body = ps.application()
        case = c.call("POST", "/applications", 201, json=body).get_json()
        again = c.call("POST", "/applications", 200, json=body).get_json()
        assert again["case_id"] == case["case_id"]
        case_id = case["case_id"]
        ps.run_worker()  # the checks and the police request, as a worker does within a second
        db.session.remove()
        waiting = c.call("GET", "/cases/{case_id}", 200, url=f"/cases/{case_id}").get_json()
        assert [s["name"] for s in waiting["current_steps"]], waiting
        assert waiting["deadlines"], waiting
        c.call("GET", "/cases", 200, url="/cases?region=AST")
        listed = c.call("POST", "/cases/search", 200, json={"applicant_iin": ps.APPLICANT_IIN}).get_json()
        assert [i["case_id"] for i in listed["items"]] == [case_id]

        reply = {"message_id": "ismp-1", "correlation": case_id, "payload": {"verdict": "approve"}}
        delivered = c.call("POST", "/messages/police_reply", 202, json=reply).get_json()
        assert (delivered["status"], delivered["duplicate"]) == ("delivered", False)
        resent = c.call("POST", "/messages/police_reply", 200, json=reply).get_json()
        assert (resent["status"], resent["duplicate"]) == ("delivered", True)
        ps.run_worker()
        db.session.remove()

        tasks = c.call("GET", "/tasks", 200, url=f"/tasks?case_id={case_id}").get_json()["items"]
        [decide] = [t for t in tasks if t["bpmn_id"] == "decide"]
        task_url = f"/tasks/{decide['id']}"
        detail = c.call("GET", "/tasks/{task_id}", 200, url=task_url).get_json()
        assert detail["form"]["schema"]["type"] == "object"
        c.call("POST", "/tasks/{task_id}/claim", 200, url=task_url + "/claim")
        c.call("POST", "/tasks/{task_id}/unclaim", 200, url=task_url + "/unclaim", json={"reassign_to": None})
        c.call("POST", "/tasks/{task_id}/claim", 200, url=task_url + "/claim")
        done = c.call("POST", "/tasks/{task_id}/complete", 200, url=task_url + "/complete",
                      json={"data": ps.ISSUE}).get_json()
        assert done["status"] == "completed"
        ps.run_worker()
        db.session.remove()
        issued = c.call("GET", "/cases/{case_id}", 200, url=f"/cases/{case_id}").get_json()
        assert issued["outcome"]["code"] == "issued" and issued["permit"]["holder"]["last_name"] == "Karimov"
        permit_no = issued["permit_no"]
        c.call("GET", "/cases/{case_id}/documents/{key}", 200, url=f"/cases/{case_id}/documents/permit")
        c.call("GET", "/cases/{case_id}/documents/{key}", 200,
               url=f"/cases/{case_id}/documents/permit?format=html")

        # --- the register ----------------------------------------------------------------------
        permit = c.call("GET", "/permits/{permit_no}", 200, url=f"/permits/{permit_no}").get_json()
        assert permit["valid_from"] == "2026-04-01" and permit["history"]
        c.call("GET", "/permits", 200, url=f"/permits?holder_iin={ps.APPLICANT_IIN}")
        c.call("POST", "/permits/search", 200, json={"holder_iin": ps.APPLICANT_IIN})

    with time_machine.travel(SECOND_FILED, tick=False):
        # --- a second application: withdrawn; a refused one in the refusal's grounds -----------
        second = c.call("POST", "/applications", 201, json=ps.application(
            application_no="EGOV-2026-000002", applicant__iin=ps.make_iin("900515", 3, "0002"),
            tax_payment__payer_iin=ps.make_iin("900515", 3, "0002"))).get_json()
        withdrawn = c.call("POST", "/cases/{case_id}/withdrawal", 200, url=f"/cases/{second['case_id']}/withdrawal",
                           json={"reason": "found another employer"}).get_json()
        assert withdrawn["outcome"]["code"] == "withdrawn"
        refused = c.call("POST", "/applications", 201, json=ps.application(
            application_no="EGOV-2026-000003", applicant__citizenship="RU")).get_json()
        ps.run_worker()
        db.session.remove()
        refused = c.call("GET", "/cases/{case_id}", 200, url=f"/cases/{refused['case_id']}").get_json()
        [ground] = refused["outcome"]["grounds"]
        assert ground["code"] == "ineligible_citizenship" and ground["eaeu"] is True  # its evidence, kept

        # --- messages the case no longer waits for, or nothing waits for ---------------------
        consent = {"message_id": "sign-1", "correlation": case_id,
                   "payload": {"decision": "consent", "signed_at": "2026-03-20T10:30:00+05:00"}}
        late = c.call("POST", "/messages/employer_consent", 409, json=consent).get_json()
        assert (late["message_id"], late["message_status"], late["case_id"]) == ("sign-1", "not_waiting", case_id)
        first = c.call("POST", "/messages/employer_consent", 200, json=consent).get_json()
        assert (first["status"], first["duplicate"]) == ("not_waiting", True)
        nowhere = dict(consent, message_id="sign-2", correlation="00000000-0000-4000-8000-0000000000ff")
        lost = c.call("POST", "/messages/employer_consent", 404, json=nowhere).get_json()
        assert (lost["message_id"], lost["message_status"]) == ("sign-2", "not_found")
        c.call("GET", "/messages", 200)

        # --- ЕСУТД ends the permit's contract: a revocation; the API's own revocation of another --
        terminated = {"message_id": "esutd-1", "correlation": permit_no, "payload": {"terminated_on": "2026-03-19"}}
        started = c.call("POST", "/messages/contract_terminated", 202, json=terminated).get_json()
        c.call("POST", "/messages/contract_terminated", 200, json=terminated)
        busy = c.call("POST", "/permits/{permit_no}/revocations", 409, url=f"/permits/{permit_no}/revocations",
                      json={"ground": "false_documents", "details": None,
                            "initiator": {"type": "police", "id": "DVD-AST-17"}}).get_json()
        assert busy["case_id"] == started["case_id"]
        other = issue_permit(app, holder_iin=OTHER_IIN)
        c.call("POST", "/permits/{permit_no}/revocations", 201, url=f"/permits/{other}/revocations",
               json={"ground": "false_documents", "details": "forged",
                     "initiator": {"type": "police", "id": "DVD-AST-17"}})

        # --- a case left waiting for the police (it moves to the new version below) ----------
        third_iin = ps.make_iin("900515", 3, "0003")
        waiting_id = ps.file_application(ps.application(application_no="EGOV-2026-000004", applicant__iin=third_iin,
                                                        tax_payment__payer_iin=third_iin)).id

        # --- an incident: no quota for 2027 ---------------------------------------------------
        stuck = ps.file_application(ps.application(application_no="EGOV-2027-000001",
                                                   period={"months": 12, "start_date": "2027-01-10"})).id
        db.session.remove()
        incidents = c.call("GET", "/incidents", 200).get_json()["items"]
        assert [i["instance_id"] for i in incidents] == [stuck]
        shown = c.call("GET", "/incidents/{instance_id}", 200, url=f"/incidents/{stuck}").get_json()
        application = shown["input"]["application"]
        application["period"]["start_date"] = "2026-12-01"
        diff = c.call("POST", "/incidents/{instance_id}/data-edits", 200, url=f"/incidents/{stuck}/data-edits",
                      json={"data": {"application": application}, "reason": "the applicant corrected it"}).get_json()
        assert diff["diff"] == {"application.period.start_date": {"before": "2027-01-10", "after": "2026-12-01"}}
        results = c.call("POST", "/incidents/retries", 200, json={"instance_ids": [stuck]}).get_json()["results"]
        assert [r["outcome"] for r in results] == ["moved_on"]
        ps.run_worker()
        db.session.remove()
        moved = c.call("POST", "/cases/{case_id}/move", 200, url=f"/cases/{stuck}/move",
                       json={"activity": "hold_quota", "reason": "hold the unit again"}).get_json()
        assert moved["status"] in ("in_progress", "incident")
        cancelled = c.call("POST", "/cases/{case_id}/cancellation", 200, url=f"/cases/{stuck}/cancellation",
                           json={"reason": "filed twice"}).get_json()
        assert cancelled["outcome"]["code"] == "cancelled"

    # --- process instances and definitions ----------------------------------------------------
    c.call("POST", "/process-definitions/validate", 200, **_upload(SAMPLE_BPMN))
    deployed = c.call("POST", "/process-definitions", 201, **_upload(SAMPLE_BPMN, comment="first")).get_json()
    c.call("POST", "/process-definitions", 200, **_upload(SAMPLE_BPMN))
    definition_id = deployed["deployed"][0]["definition_id"]
    c.call("GET", "/process-definitions/{definition_id}/bpmn", 200, url=f"/process-definitions/{definition_id}/bpmn")
    c.call("GET", "/process-definitions", 200)
    c.call("GET", "/process-definitions", 200, url="/process-definitions?process_id=permit_issue")
    started = c.call("POST", "/process-instances", 201, json={
        "process_id": "sample_review", "business_key": "REQ-1",
        "data": {"region": "AST", "subject": "a request", "scores": {"a": 1, "b": 2, "c": 3}}}).get_json()
    c.call("GET", "/process-instances/{instance_id}", 200, url=f"/process-instances/{started['id']}")
    c.call("GET", "/operators", 200)
    c.call("GET", "/forms", 200)

    # --- a new version of the issue procedure, and the running cases moved to it --------------
    version = deploy_changed(app, tmp_path, ("police_answered", "note_police_answer"))
    base = f"/process-definitions/permit_issue/versions/{version}"
    mapping = {"mapping": {"police_answered": "note_police_answer"}}
    preview = c.call("POST", "/process-definitions/{process_id}/versions/{version}/migration-preview", 200,
                     url=base + "/migration-preview", json=mapping).get_json()
    assert preview["target_version"] == version and waiting_id in [i["instance_id"] for i in preview["items"]]
    c.call("POST", "/process-definitions/{process_id}/versions/{version}/migrations", 200,
           url=base + "/migrations", json=mapping)
    with time_machine.travel(SECOND_FILED, tick=False):
        report = c.call("GET", "/reports/compliance", 200, url="/reports/compliance?year=2026").get_json()
    assert report["items"]

    assert c.operations() - c.seen == set(), "operations never called"
    left_out = [r.getMessage() for r in caplog.records if "were not sent" in r.getMessage()]
    assert left_out == []  # every field the views make is one the document declares
    print(f"contract: {len(c.seen)} operations, {sum(len(s) for s in c.statuses.values())} (operation, status) "
          f"answers validated against the document")


def test_every_operation_answers_problems_in_the_shape_its_document_gives(app, contract):
    """Without a token, with a body of the wrong shape, for what does not exist: each problem as
    the document declares it for that operation and status."""
    c = contract
    ps.deploy_procedures(app, "permit_issue")
    anonymous = {}
    fake = {"case_id": "00000000-0000-4000-8000-00000000abcd", "task_id": "00000000-0000-4000-8000-00000000abcd",
            "instance_id": "00000000-0000-4000-8000-00000000abcd", "permit_no": "AST-2026-99",
            "definition_id": "2147483000", "process_id": "permit_issue", "version": "99", "key": "permit"}
    checked = 0
    for path, item in c.spec["paths"].items():
        url = path
        for name, value in fake.items():
            url = url.replace("{" + name + "}", value)
        for method, operation in item.items():
            if operation["security"]:
                c.call(method.upper(), path, 401, url=url, headers=anonymous, json={})
                checked += 1
            body = (operation.get("requestBody") or {}).get("content", {})
            if "application/json" in body:
                wrong = c.call(method.upper(), path, 422, url=url, json={"unknown_field": 1}).get_json()
                assert "unknown_field" in wrong["errors"] or "" in wrong["errors"], wrong
                c.call(method.upper(), path, 400, url=url, data="{not json", content_type="application/json")
                c.call(method.upper(), path, 415, url=url, data="x", content_type="text/plain")
                checked += 3
            elif "{" in path and method == "get":
                c.call("GET", path, 404, url=url)
                checked += 1
    refused = c.call("POST", "/process-definitions", 422, data={
        "bpmn": (io.BytesIO(b"<not-bpmn/>"), "broken.bpmn")}, content_type="multipart/form-data").get_json()
    assert refused["problems"] and {"element_id", "reason"} == set(refused["problems"][0])
    assert checked > 60, checked


def test_a_field_the_schema_does_not_declare_is_not_sent_and_a_missing_one_is_a_fault(app, monkeypatch, caplog):
    """The dump itself: an extra field is left out (and named in the log); a declared one
    missing answers 500 saying the request may have been carried out, never the broken body."""
    from web.api import present
    api = app.test_client()
    headers = make_token("contract", ALL_SCOPES, role="officer")
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app)
    with time_machine.travel(FILED, tick=False):
        case_id = ps.file_application().id
    db.session.remove()
    real = present.case_view

    def with_extra(case):
        return dict(real(case), internal_note="not for clients")

    monkeypatch.setattr(present, "case_view", with_extra)
    with caplog.at_level(logging.WARNING):
        answer = api.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert answer.status_code == 200 and "internal_note" not in answer.get_json()
    assert "internal_note" in caplog.text and "not for clients" not in caplog.text

    def without_status(case):
        view = real(case)
        del view["status"]
        return view

    monkeypatch.setattr(present, "case_view", without_status)
    broken = api.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert broken.status_code == 500 and broken.mimetype == "application/problem+json"
    assert "may have been carried out" in broken.get_json()["detail"]
    assert "{'status': 'missing'}" in caplog.text
    assert json.loads(broken.get_data())["status"] == 500

    def off_the_enumeration(case):
        view = real(case)
        view["deadlines"][0]["met"] = None
        view["history"][0]["at"] = None  # not nullable
        return dict(view, status="paused")

    monkeypatch.setattr(present, "case_view", off_the_enumeration)
    assert api.get(f"/api/v1/cases/{case_id}", headers=headers).status_code == 500
    assert "'status': 'Must be one of: in_progress, completed, incident.'" in caplog.text
    assert "'history.0.at': 'null'" in caplog.text and "deadlines.0.met" not in caplog.text  # met may be null
    refresh()  # the test's application context is shared by its requests: forget the language chosen before
    in_russian = api.get(f"/api/v1/cases/{case_id}", headers={**headers, "Accept-Language": "ru"})
    assert in_russian.get_json()["detail"].startswith("сервис не смог представить свой ответ")
