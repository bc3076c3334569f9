"""Shared set-up of the API tests: an application whose case procedures are a small stand-in
diagram, clients with tokens, a valid application body, a permit in the register.

The stand-in case procedure (`api_case_stub`) does what the real ones do at their edges:
computes the decision and police deadlines, waits for `police_reply` (correlated on the case
id) with a boundary timer for police silence, lets an officer decide, and records the outcome
with `cases.record_outcome`. It is not a permit procedure; it exercises the API's plumbing.
"""
from __future__ import annotations

import copy
import json
from datetime import date, timedelta

import pytest

import config as config_module
from engine import clock, definitions
from engine.db import db
from tests.conftest import running_app

STUB_PROCESS = "api_case_stub"
STUB_PROCEDURES = {"issue": STUB_PROCESS, "extension": STUB_PROCESS, "revocation": STUB_PROCESS}
DECISION_FORM = "api_decision.schema.json"
DECISION_FORM_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
    "properties": {"outcome": {"type": "string", "enum": ["issued", "refused"]},
                   "comment": {"type": "string", "maxLength": 500}},
    "required": ["outcome"], "additionalProperties": False,
}
ALL_SCOPES = ("applications:write", "cases:read", "permits:read", "revocations:write",
              "messages:write", "tasks:write", "instances:write", "definitions:write",
              "operations:write", "metrics:read", "reports:read")

# Valid IINs (check digits computed by handlers.identity): an applicant born 12.03.1990 (male),
# an employer born 05.07.1975 (female), another person born 01.01.1985.
APPLICANT_IIN = "900312300014"
EMPLOYER_IIN = "750705400014"
OTHER_IIN = "850101300015"


def valid_iin(prefix11: str) -> str:
    from handlers.identity import check_digit
    digit = check_digit(prefix11)
    assert digit is not None
    return prefix11 + str(digit)


STUB_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="Definitions_api_stub" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:collaboration id="Collaboration_api_stub">
    <bpmn:participant id="Participant_api_stub" name="API stand-in case" processRef="api_case_stub" />
  </bpmn:collaboration>
  <bpmn:message id="Message_police_reply" name="police_reply" />
  <bpmn:process id="api_case_stub" name="API stand-in case" isExecutable="true">
    <bpmn:laneSet id="LaneSet_api_stub">
      <bpmn:lane id="Lane_system" name="System">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>compute_decision</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>compute_police</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>wait_police</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>police_silent</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>record_silence</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end_silent</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>record</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end_decided</bpmn:flowNodeRef>
      </bpmn:lane>
      <bpmn:lane id="Lane_officer" name="Officer">
        <bpmn:flowNodeRef>decide</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start" name="Received">
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:serviceTask id="compute_decision" name="Compute the decision deadline">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="deadlines.compute" resultVariable="decision_deadline">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="name" type="str" value="'decision'" />
            <spiffworkflow:parameter id="rule" type="str" value="'working_days(2)'" />
            <spiffworkflow:parameter id="start" type="str" value="filed_at" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:serviceTask id="compute_police" name="Compute the police deadline">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="deadlines.compute" resultVariable="police_deadline">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="name" type="str" value="'police'" />
            <spiffworkflow:parameter id="rule" type="str" value="'working_days(1)'" />
            <spiffworkflow:parameter id="start" type="str" value="filed_at" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:receiveTask id="wait_police" name="Wait for the police answer" messageRef="Message_police_reply">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="correlation" value="case_id" />
        </spiffworkflow:properties>
        <spiffworkflow:messageVariable>police_reply</spiffworkflow:messageVariable>
      </bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:receiveTask>
    <bpmn:boundaryEvent id="police_silent" name="No police answer in time" attachedToRef="wait_police">
      <bpmn:outgoing>f7</bpmn:outgoing>
      <bpmn:timerEventDefinition id="police_timer">
        <bpmn:timeDate>deadlines['police']['due_at_utc']</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:serviceTask id="record_silence" name="Record the refusal">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="cases.record_outcome" resultVariable="outcome">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="code" type="str" value="'refused'" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f7</bpmn:incoming>
      <bpmn:outgoing>f8</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end_silent" name="Refused">
      <bpmn:incoming>f8</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:userTask id="decide" name="Decide">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="api_decision.schema.json" />
          <spiffworkflow:property name="deadline" value="decision" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f4</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:serviceTask id="record" name="Record the decision">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="cases.record_outcome" resultVariable="outcome">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="code" type="str" value="decide['outcome']" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f5</bpmn:incoming>
      <bpmn:outgoing>f6</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end_decided" name="Decided">
      <bpmn:incoming>f6</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute_decision" />
    <bpmn:sequenceFlow id="f2" sourceRef="compute_decision" targetRef="compute_police" />
    <bpmn:sequenceFlow id="f3" sourceRef="compute_police" targetRef="wait_police" />
    <bpmn:sequenceFlow id="f4" sourceRef="wait_police" targetRef="decide" />
    <bpmn:sequenceFlow id="f5" sourceRef="decide" targetRef="record" />
    <bpmn:sequenceFlow id="f6" sourceRef="record" targetRef="end_decided" />
    <bpmn:sequenceFlow id="f7" sourceRef="police_silent" targetRef="record_silence" />
    <bpmn:sequenceFlow id="f8" sourceRef="record_silence" targetRef="end_silent" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="Diagram_api_stub">
    <bpmndi:BPMNPlane id="Plane_api_stub" bpmnElement="Collaboration_api_stub">
      <bpmndi:BPMNShape id="Participant_api_stub_di" bpmnElement="Participant_api_stub" isHorizontal="true"><dc:Bounds x="30" y="0" width="1100" height="400" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Lane_system_di" bpmnElement="Lane_system" isHorizontal="true"><dc:Bounds x="60" y="0" width="1070" height="250" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Lane_officer_di" bpmnElement="Lane_officer" isHorizontal="true"><dc:Bounds x="60" y="250" width="1070" height="150" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="100" y="82" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="compute_decision_di" bpmnElement="compute_decision"><dc:Bounds x="170" y="60" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="compute_police_di" bpmnElement="compute_police"><dc:Bounds x="310" y="60" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="wait_police_di" bpmnElement="wait_police"><dc:Bounds x="450" y="60" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="police_silent_di" bpmnElement="police_silent"><dc:Bounds x="482" y="122" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="record_silence_di" bpmnElement="record_silence"><dc:Bounds x="590" y="150" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_silent_di" bpmnElement="end_silent"><dc:Bounds x="730" y="172" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="decide_di" bpmnElement="decide"><dc:Bounds x="590" y="280" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="record_di" bpmnElement="record"><dc:Bounds x="800" y="60" width="100" height="80" /></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_decided_di" bpmnElement="end_decided"><dc:Bounds x="950" y="82" width="36" height="36" /></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="136" y="100" /><di:waypoint x="170" y="100" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="270" y="100" /><di:waypoint x="310" y="100" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="410" y="100" /><di:waypoint x="450" y="100" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f4_di" bpmnElement="f4"><di:waypoint x="550" y="100" /><di:waypoint x="570" y="100" /><di:waypoint x="570" y="320" /><di:waypoint x="590" y="320" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f5_di" bpmnElement="f5"><di:waypoint x="690" y="320" /><di:waypoint x="850" y="320" /><di:waypoint x="850" y="140" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f6_di" bpmnElement="f6"><di:waypoint x="900" y="100" /><di:waypoint x="950" y="100" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f7_di" bpmnElement="f7"><di:waypoint x="500" y="158" /><di:waypoint x="500" y="190" /><di:waypoint x="590" y="190" /></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f8_di" bpmnElement="f8"><di:waypoint x="690" y="190" /><di:waypoint x="730" y="190" /></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def deploy_stub(app):
    return definitions.deploy("api_case_stub.bpmn", STUB_BPMN.encode(),
                              {DECISION_FORM: json.dumps(DECISION_FORM_SCHEMA).encode()}, app.config, actor="test")


@pytest.fixture
def api_app(migrated_database):
    """The application with the stand-in procedure for every kind of case."""
    yield from running_app(PROCEDURES=dict(STUB_PROCEDURES))


@pytest.fixture
def api(api_app):
    return api_app.test_client()


@pytest.fixture
def stub(api_app):
    return deploy_stub(api_app)


def make_token(name="portal", scopes=ALL_SCOPES, regions=None, role="officer", assignee=None) -> dict:
    """A client and the header that authenticates it."""
    from web.api import clients
    _, token = clients.create(name, scopes, regions=regions, role=role, assignee=assignee, actor="test")
    return {"Authorization": f"Bearer {token}"}


def today() -> date:
    # The tests' configuration's zone, also from a client thread with no application context.
    return clock.local_today({"CALENDAR_TIMEZONE": config_module.TestConfig.CALENDAR_TIMEZONE})


def application(**changes) -> dict:
    """A well-formed issue application filed today."""
    now = today()
    body = {
        "kind": "issue", "application_no": "EGOV-2026-000001", "channel": "egov", "region": "AST",
        "applicant": {"iin": APPLICANT_IIN, "last_name": "Karimov", "first_name": "Aziz",
                      "citizenship": "UZ", "birth_date": "1990-03-12", "passport_no": "FA1234567",
                      "passport_expiry": (now + timedelta(days=900)).isoformat(),
                      "entry_date": (now - timedelta(days=20)).isoformat()},
        "employer": {"iin": EMPLOYER_IIN, "full_name": "Aigerim Nurlanovna Sadykova",
                     "address": "Astana, Mangilik El 10, apt 5"},
        "period": {"months": 6, "start_date": (now + timedelta(days=7)).isoformat()},
        "tax_payment": {"receipt_no": "KGD-778899", "amount_kzt": 103800,
                        "paid_at": clock.now().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
                        "payer_iin": APPLICANT_IIN},
        "documents": [
            {"type": t, "number": f"N-{i}", "issued_at": (now - timedelta(days=30)).isoformat(),
             "valid_until": (now + timedelta(days=300)).isoformat()}
            for i, t in enumerate(("identity_document", "medical_certificate", "medical_insurance",
                                   "fingerprint_certificate", "tax_receipt"))],
    }
    for path, value in changes.items():
        set_path(body, path, value)
    return body


def set_path(body: dict, dotted: str, value):
    """Set (or, with `...`, delete) a nested field: set_path(body, "applicant.iin", "1")."""
    *parents, last = dotted.split(".")
    target = body
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is ...:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return body


def submit(api, headers, body=None, **changes):
    return api.post("/api/v1/applications", json=body if body is not None else application(**changes),
                    headers=headers)


def table_counts() -> dict:
    """Rows per table (to prove an error wrote nothing)."""
    import sqlalchemy as sa
    return {t.name: db.session.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in db.metadata.sorted_tables}


def issue_permit(app, *, region="AST", holder_iin=APPLICANT_IIN, employer_iin=EMPLOYER_IIN,
                 valid_from=None, months=6, case_id="00000000-0000-4000-8000-000000000001"):
    """A permit in the register, issued on a quota unit as the procedure would."""
    from handlers import permits, quota, reference
    valid_from = valid_from or today()
    reference.set_quota(region, valid_from.year, 100, actor="test", regions=app.config["REGIONS"])
    now = clock.now()
    quota.hold_unit(db.session, region=region, year=valid_from.year, instance_id=case_id, now=now)
    permit = permits.issue(db.session, region=region,
                           holder={"iin": holder_iin, "surname": "Karimov", "given_name": "Aziz",
                                   "citizenship": "UZ"},
                           employer={"iin": employer_iin, "name": "Aigerim Sadykova"},
                           valid_from=valid_from, months=months, instance_id=case_id, actor="test",
                           config=app.config, now=now)
    db.session.commit()
    return permit.number


def problem(response, status: int) -> dict:
    """Assert the response is a problem document with this status; return it."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:2000])
    assert response.mimetype == "application/problem+json", response.mimetype
    body = response.get_json(force=True)
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    return body


def conforms(response, path: str, method: str = None):
    """Assert the response matches what the OpenAPI document says for this operation."""
    from jsonschema import Draft202012Validator
    from web.api import openapi
    spec = openapi.document()
    method = (method or response.request.method).lower()
    operation = spec["paths"][path][method]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{method.upper()} {path} does not declare {response.status_code}"
    if "$ref" in declared:
        declared = spec["components"]["responses"][declared["$ref"].rsplit("/", 1)[-1]]
    content = declared.get("content") or {}
    assert response.mimetype in content, (response.mimetype, list(content))
    schema = copy.deepcopy(content[response.mimetype]["schema"])
    schema = {"$defs": _defs(spec), **_rebase(schema)}
    Draft202012Validator(schema).validate(response.get_json(force=True))
    return response


def _defs(spec):
    return {name: _rebase(schema) for name, schema in spec["components"]["schemas"].items()}


def _rebase(node):
    if isinstance(node, dict):
        return {k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" else _rebase(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node
