"""The permit operators called by the engine: from a diagram's service tasks, inside a step.

Also holds the helpers the other domain tests share: a linear test diagram with full DI,
reference data as the law gives it, and a step context for calling one operator directly.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
import sqlalchemy as sa
import time_machine

from engine import audit, definitions, instances
from engine.db import db
from engine.operators import StepContext
from engine.script_engine import run_operator
from handlers import permits, quota, reference
from handlers.notifications import Notification
from handlers.tax import DEFAULT_TABLES

APPLICANT_IIN = "950112300006"   # male, born 12.01.1995
EMPLOYER_IIN = "771212400000"    # female, born 12.12.1977
APPLICANT = {"iin": APPLICANT_IIN, "surname": "Karimov", "given_name": "Aziz",
             "patronymic": "Bakhtiyorovich", "citizenship": "UZ", "birth_date": "1995-01-12",
             "sex": "M", "passport_no": "FA1234567"}
EMPLOYER = {"iin": EMPLOYER_IIN, "name": "Nurlanova Aigerim"}


# --- shared helpers ---------------------------------------------------------------------------

def load_reference(app, quota_units=None, **extra):
    """The law's figures (MCI, rates), coefficient 1.0 everywhere, the configured citizenships,
    and quotas {region: {year: units}}; committed, as an administrator would."""
    data = {"mci": DEFAULT_TABLES["mci"], "tax_rate": DEFAULT_TABLES["rate_mci_per_month"],
            "regional_coefficient": {"*": 1.0},
            "eligible_citizenship": list(app.config["ELIGIBLE_CITIZENSHIPS"]),
            "quota": quota_units or {}, **extra}
    reference.load(json.loads(json.dumps(data)), actor="test", regions=app.config["REGIONS"])
    db.session.commit()


def step_context(app, instance_id="case-1", **kwargs):
    return StepContext(session=db.session, config=app.config, instance_id=instance_id, **kwargs)


def linear_diagram(process_id: str, steps: list[dict]) -> bytes:
    """A start event, `steps` in a row, an end event; one lane "System"; complete DI.

    A step is {"id", "operator", "params": {name: expression}, "result"} for a service task,
    or {"id", "message", "variable"} for a message catch event. Ids are XML ids: a step's id
    must differ from every parameter's id.
    """
    nodes = [{"id": "start", "kind": "start"}] + steps + [{"id": "end", "kind": "end"}]
    messages = sorted({s["message"] for s in steps if "message" in s})
    xml = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
           'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
           'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
           'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
           f'id="Definitions_{process_id}" targetNamespace="http://bpmn.io/schema/bpmn">',
           f'<bpmn:collaboration id="Collaboration_{process_id}">'
           f'<bpmn:participant id="Participant_{process_id}" name="{process_id}" processRef="{process_id}" />'
           '</bpmn:collaboration>']
    xml += [f'<bpmn:message id="Message_{m}" name="{m}" />' for m in messages]
    xml.append(f'<bpmn:process id="{process_id}" name="{process_id}" isExecutable="true">')
    xml.append(f'<bpmn:laneSet id="LaneSet_{process_id}"><bpmn:lane id="Lane_system" name="System">'
               + "".join(f"<bpmn:flowNodeRef>{n['id']}</bpmn:flowNodeRef>" for n in nodes)
               + "</bpmn:lane></bpmn:laneSet>")
    for i, node in enumerate(nodes):
        incoming = f"<bpmn:incoming>f{i}</bpmn:incoming>" if i > 0 else ""
        outgoing = f"<bpmn:outgoing>f{i + 1}</bpmn:outgoing>" if i < len(nodes) - 1 else ""
        if node.get("kind") == "start":
            xml.append(f'<bpmn:startEvent id="start" name="Start">{outgoing}</bpmn:startEvent>')
        elif node.get("kind") == "end":
            xml.append(f'<bpmn:endEvent id="end" name="End">{incoming}</bpmn:endEvent>')
        elif "operator" in node:
            params = "".join(f'<spiffworkflow:parameter id="{k}" type="any" value={quoteattr(v)} />'
                             for k, v in node.get("params", {}).items())
            xml.append(
                f'<bpmn:serviceTask id="{node["id"]}" name="{node["id"]}"><bpmn:extensionElements>'
                f'<spiffworkflow:serviceTaskOperator id="{node["operator"]}" resultVariable="{node["result"]}">'
                f'<spiffworkflow:parameters>{params}</spiffworkflow:parameters>'
                f'</spiffworkflow:serviceTaskOperator></bpmn:extensionElements>{incoming}{outgoing}'
                f'</bpmn:serviceTask>')
        else:
            xml.append(
                f'<bpmn:intermediateCatchEvent id="{node["id"]}" name="{node["id"]}">{incoming}{outgoing}'
                f'<bpmn:messageEventDefinition id="Def_{node["id"]}" messageRef="Message_{node["message"]}">'
                f'<bpmn:extensionElements><spiffworkflow:messageVariable>{node["variable"]}'
                f'</spiffworkflow:messageVariable></bpmn:extensionElements>'
                f'</bpmn:messageEventDefinition></bpmn:intermediateCatchEvent>')
    for i in range(1, len(nodes)):
        xml.append(f'<bpmn:sequenceFlow id="f{i}" sourceRef="{nodes[i - 1]["id"]}" targetRef="{nodes[i]["id"]}" />')
    xml.append("</bpmn:process>")
    width = 140 * len(nodes) + 100
    xml.append(f'<bpmndi:BPMNDiagram id="Diagram_{process_id}"><bpmndi:BPMNPlane id="Plane_{process_id}" '
               f'bpmnElement="Collaboration_{process_id}">'
               f'<bpmndi:BPMNShape id="Participant_di" bpmnElement="Participant_{process_id}" isHorizontal="true">'
               f'<dc:Bounds x="30" y="0" width="{width}" height="200" /></bpmndi:BPMNShape>'
               f'<bpmndi:BPMNShape id="Lane_system_di" bpmnElement="Lane_system" isHorizontal="true">'
               f'<dc:Bounds x="60" y="0" width="{width - 30}" height="200" /></bpmndi:BPMNShape>')
    for i, node in enumerate(nodes):
        x = 100 + 140 * i
        size = (100, 80) if "operator" in node else (36, 36)
        xml.append(f'<bpmndi:BPMNShape id="{node["id"]}_di" bpmnElement="{node["id"]}">'
                   f'<dc:Bounds x="{x}" y="{100 - size[1] // 2}" width="{size[0]}" height="{size[1]}" />'
                   f'</bpmndi:BPMNShape>')
    for i in range(1, len(nodes)):
        xml.append(f'<bpmndi:BPMNEdge id="f{i}_di" bpmnElement="f{i}"><di:waypoint x="{100 + 140 * (i - 1) + 50}" y="100" />'
                   f'<di:waypoint x="{100 + 140 * i}" y="100" /></bpmndi:BPMNEdge>')
    xml.append("</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></bpmn:definitions>")
    return "\n".join(xml).encode()


def deploy_linear(app, tmp_path, process_id, steps):
    path = tmp_path / f"{process_id}.bpmn"
    path.write_bytes(linear_diagram(process_id, steps))
    return definitions.deploy_file(path, app.config, actor="test")


# --- the issue checks and the issue, as a diagram runs them ---------------------------------

ISSUE_STEPS = [
    {"id": "compare_identity", "operator": "identity.compare", "params": {"application": "applicant"},
     "result": "identity"},
    {"id": "check_documents", "operator": "documents.check",
     "params": {"kind": "'issue'", "documents": "documents", "filing_date": "filed_on",
                "applicant_iin": "applicant['iin']"}, "result": "documents_check"},
    {"id": "check_citizenship", "operator": "eligibility.check",
     "params": {"citizenship": "applicant['citizenship']"}, "result": "eligibility"},
    {"id": "check_tax", "operator": "tax.check",
     "params": {"payment": "payment", "applicant_iin": "applicant['iin']", "filing_date": "filed_on",
                "months": "months", "region": "region"}, "result": "tax"},
    {"id": "hold_quota", "operator": "quota.hold", "params": {"region": "region", "valid_from": "valid_from"},
     "result": "quota"},
    {"id": "issue_permit", "operator": "permits.register",
     "params": {"region": "region", "holder": "applicant", "employer": "employer",
                "valid_from": "valid_from", "months": "months"}, "result": "permit"},
    {"id": "notify_parties", "operator": "notifications.send",
     "params": {"template": "'issued'",
                "recipients": "[{'channel': 'egov', 'to': applicant['iin']}, "
                              "{'channel': 'egov', 'to': employer['iin']}]",
                "data": "{'permit_number': permit['number'], 'valid_from': permit['valid_from'], "
                        "'valid_to': permit['valid_to'], 'holder_name': permit['holder']['name'], "
                        "'employer_name': employer['name']}"},
     "result": "notified"},
]


def issue_case_data(months=12, paid=207_600, region="ALA"):
    documents = [{"type": t, "number": f"{t[:3].upper()}-1", "issued_at": "2026-01-10",
                  "valid_until": "2027-01-10"}
                 for t in ("identity_document", "medical_certificate", "medical_insurance",
                           "fingerprint_certificate", "tax_receipt")]
    return {"region": region, "applicant": APPLICANT, "employer": EMPLOYER, "documents": documents,
            "filed_on": "2026-03-20", "valid_from": "2026-04-01", "months": months,
            "payment": {"receipt_no": "R-1", "amount_kzt": paid, "paid_at": "2026-03-18",
                        "payer_iin": APPLICANT_IIN}}


@pytest.fixture
def issue_process(app, tmp_path):
    deploy_linear(app, tmp_path, "test_issue_chain", ISSUE_STEPS)
    return "test_issue_chain"


def test_a_complete_application_for_2026_passes_every_check_and_is_issued_with_its_unit(app, issue_process):
    load_reference(app, {"ALA": {"2026": 5}})
    row = instances.start(issue_process, issue_case_data(), actor="portal")
    assert row.status == "completed", row.incident()
    data = instances.peek(row).data
    assert data["identity"]["matches"] is True
    assert data["documents_check"]["ok"] is True and data["documents_check"]["held_permit_last_year"] is False
    assert data["eligibility"]["ok"] is True
    assert data["tax"]["ok"] is True and data["tax"]["due_kzt"] == 207_600
    assert data["quota"]["held"] is True and data["quota"]["remaining"] == 4
    assert data["permit"]["number"] == "ALA-2026-000001"
    assert data["permit"]["valid_to"] == "2027-03-31"
    assert data["permit"]["history"][0]["instance_id"] == row.id
    assert data["notified"]["queued"] == 2
    assert quota.usage("ALA", 2026) == {"region": "ALA", "year": 2026, "quota_units": 5, "held": 0,
                                         "taken": 1, "used": 1, "remaining": 4}
    assert permits.get_permit("ALA-2026-000001").issued_by_case == row.id
    sent = db.session.execute(sa.select(Notification).order_by(Notification.id)).scalars().all()
    assert [n.recipient for n in sent] == [APPLICANT_IIN, EMPLOYER_IIN]
    assert "ALA-2026-000001" in sent[0].subject and "01.04.2026" in sent[0].body


def test_every_operator_result_is_json_in_the_task_data(app, issue_process):
    load_reference(app, {"ALA": {"2026": 5}})
    row = instances.start(issue_process, issue_case_data(), actor="portal")
    data = instances.peek(row).data
    for key in ("identity", "documents_check", "eligibility", "tax", "quota", "permit", "notified"):
        assert json.loads(json.dumps(data[key])) == data[key]


def test_a_year_without_mci_is_an_incident_an_operator_sees_not_a_zero_tax(app, issue_process):
    load_reference(app, {"ALA": {"2027": 5}})
    case = issue_case_data()
    case.update(filed_on="2027-01-15", valid_from="2027-02-01")
    for document in case["documents"]:
        document["valid_until"] = "2028-01-01"
    row = instances.start(issue_process, case, actor="portal")
    assert row.status == "incident"
    assert row.incident_error_type == "MissingReferenceData"
    assert "MCI for 2027 is not loaded" in row.incident_message
    assert quota.usage("ALA", 2027)["used"] == 0  # nothing after the failing task ran


def test_a_region_without_a_quota_for_the_year_is_an_incident(app, issue_process):
    load_reference(app, {"ALA": {"2025": 5}})
    row = instances.start(issue_process, issue_case_data(), actor="portal")
    assert row.status == "incident" and row.incident_error_type == "MissingReferenceData"
    assert "quota for region ALA in 2026 is not loaded" in row.incident_message


def test_an_incident_is_retried_after_the_administrator_loads_the_figure(app, issue_process):
    load_reference(app, {"ALA": {"2025": 5}})
    row = instances.start(issue_process, issue_case_data(), actor="portal")
    assert row.status == "incident"
    reference.set_quota("ALA", 2026, 5, actor="admin", regions=app.config["REGIONS"])
    db.session.commit()
    assert instances.retry(row.id, "operator").status == "completed"


def test_no_eligible_citizenships_loaded_is_an_incident_not_a_refusal_of_everyone(app, tmp_path):
    deploy_linear(app, tmp_path, "test_citizenship", [ISSUE_STEPS[2]])
    row = instances.start("test_citizenship", {"applicant": APPLICANT}, actor="portal")
    assert row.status == "incident" and "no eligible citizenships are loaded" in row.incident_message


def test_an_eaeu_citizen_is_refused_ineligible_from_the_administered_table(app, tmp_path):
    load_reference(app)
    deploy_linear(app, tmp_path, "test_citizenship", [ISSUE_STEPS[2]])
    row = instances.start("test_citizenship", {"applicant": {**APPLICANT, "citizenship": "KG"}},
                          actor="portal")
    result = instances.peek(row).data["eligibility"]
    assert result["ok"] is False and result["eaeu"] is True
    assert result["grounds"][0]["code"] == "ineligible_citizenship"


def test_a_citizenship_added_by_the_administrator_becomes_eligible(app, tmp_path):
    load_reference(app)
    reference.add_citizenship("TR", actor="admin")
    db.session.commit()
    deploy_linear(app, tmp_path, "test_citizenship", [ISSUE_STEPS[2]])
    row = instances.start("test_citizenship", {"applicant": {**APPLICANT, "citizenship": "TR"}},
                          actor="portal")
    assert instances.peek(row).data["eligibility"]["ok"] is True


def test_fingerprints_are_waived_for_a_holder_of_a_permit_issued_last_year(app, issue_process):
    load_reference(app, {"ALA": {"2025": 5, "2026": 5}})
    with time_machine.travel("2025-05-01T10:00:00+05:00"):
        earlier = issue_case_data(months=3, paid=3 * 2 * 3932)
        earlier.update(filed_on="2025-04-20", valid_from="2025-05-01")
        for document in earlier["documents"]:
            document["issued_at"] = "2025-01-01"
        assert instances.start(issue_process, earlier, actor="portal").status == "completed"
    case = issue_case_data()
    case["documents"] = [d for d in case["documents"] if d["type"] != "fingerprint_certificate"]
    result = run_in_step(app, "documents.check", {
        "kind": "issue", "documents": case["documents"], "filing_date": "2026-03-20",
        "applicant_iin": APPLICANT_IIN})
    assert result["ok"] is True and result["held_permit_last_year"] is True
    assert "fingerprint_certificate" not in result["required"]


def test_underpaid_tax_gives_the_ground_with_the_2026_figures(app, tmp_path):
    load_reference(app)
    deploy_linear(app, tmp_path, "test_tax", [ISSUE_STEPS[3]])
    row = instances.start("test_tax", issue_case_data(paid=200_000), actor="portal")
    tax = instances.peek(row).data["tax"]
    assert tax["ok"] is False and tax["shortfall_kzt"] == 7_600
    assert tax["grounds"][0]["code"] == "tax_underpaid"


def test_the_refusal_document_is_rendered_for_the_case_with_its_grounds(app):
    load_reference(app)
    ground = {"code": "quota_exhausted", "check": "quota.available", "evidence": "All 5 in use."}
    result = run_in_step(app, "decision.render_refusal", {"case": {
        "kind": "issue", "region": "ALA", "filed_on": "2026-03-20",
        "applicant": {"name": "Karimov Aziz", "iin": APPLICANT_IIN}, "grounds": [ground]}})
    assert result["document"] == "motivated_refusal" and result["appendix"] == 4
    assert "9501******06" in result["html"] and APPLICANT_IIN not in result["html"]
    receipt = run_in_step(app, "decision.render_refusal", {"case": {
        "kind": "issue", "region": "ALA", "filed_on": "2026-03-20",
        "applicant": {"name": "Karimov Aziz", "iin": APPLICANT_IIN},
        "grounds": [{"code": "not_accepted_incomplete", "check": "documents.complete",
                     "evidence": "Missing: medical insurance."}]}})
    assert receipt["document"] == "not_accepted_receipt" and receipt["appendix"] == 3


def test_an_operator_failure_rolls_back_only_its_own_writes(app, tmp_path):
    """permits.register without a held unit fails: the step's earlier work stays, nothing half-written."""
    load_reference(app, {"ALA": {"2026": 5}})
    deploy_linear(app, tmp_path, "test_register_only", [ISSUE_STEPS[5]])
    row = instances.start("test_register_only", issue_case_data(), actor="portal")
    assert row.status == "incident" and row.incident_error_type == "QuotaNotHeld"
    assert db.session.execute(sa.select(sa.func.count()).select_from(permits.Permit)).scalar_one() == 0
    # the sequence bump was inside the failed operator's savepoint too
    assert db.session.execute(sa.select(sa.func.count()).select_from(permits.PermitSequence)).scalar_one() == 0
    assert [e.event for e in audit.trail(row.id)][-1] == "incident_raised"


# --- helpers for calling one operator inside a real engine step ------------------------------

EMPTY_STEPS = [{"id": "wait", "message": "test_never", "variable": "never"}]


def waiting_case(app):
    """A case of a diagram that only waits: a real instance to run steps of."""
    if definitions.latest("test_waiting_case") is None:
        deploy_linear(app, Path(tempfile.mkdtemp()), "test_waiting_case", EMPTY_STEPS)
    return instances.start("test_waiting_case", {"region": "ALA"}, actor="test")


def run_in_step(app, name, params, instance=None):
    """Run operator `name` inside a committed engine step of a case, as a service task would."""
    row = instance or waiting_case(app)
    with instances.step(row.id, "test"):
        result = run_operator(name, params)
    return json.loads(json.dumps(result))


def test_the_configured_document_lists_default_to_the_laws(app):
    from handlers.documents import LAW_REQUIRED_DOCUMENTS
    assert tuple(app.config["REQUIRED_DOCUMENTS_ISSUE"]) == LAW_REQUIRED_DOCUMENTS["issue"]
    assert tuple(app.config["REQUIRED_DOCUMENTS_EXTENSION"]) == LAW_REQUIRED_DOCUMENTS["extension"]


def test_a_shorter_configured_list_is_what_documents_check_requires(app):
    app.config["REQUIRED_DOCUMENTS_ISSUE"] = ["identity_document", "tax_receipt"]
    result = run_in_step(app, "documents.check", {
        "kind": "issue", "filing_date": "2026-03-20",
        "documents": [{"type": "identity_document", "number": "FA1", "issued_at": "2020-01-01",
                       "valid_until": "2030-01-01"}]})
    assert result["missing"] == ["tax_receipt"] and result["held_permit_last_year"] is False
