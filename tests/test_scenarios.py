"""Scenarios (processes/scenarios): every path of the four procedures replays as recorded, and a
deploy that would decide one of them another way is refused, naming the scenario and the step."""
import io
import json

import pytest
import sqlalchemy as sa

from config import Config
from engine import audit, definitions, instances
from engine.db import db
from handlers import scenarios
from handlers.cases import Case
from tests.permit_support import PROCESSES, deploy_procedures
from tests.test_api_support import api, api_app, conforms, make_token, problem  # noqa: F401  fixtures

SCENARIOS = PROCESSES / "scenarios"
REVOCATION = PROCESSES / "permit_revocation.bpmn"
FLIPPED = REVOCATION.read_bytes().replace(b"review['decision'] == 'confirm'", b"review['decision'] != 'confirm'")
PATHS = {  # the diagrams' own paths, each with at least one scenario
    "issue", "not_accepted", "refused_ineligible", "refused_tax", "refused_quota", "police_objection",
    "police_silence", "escalated", "refused_by_officer", "extension_granted", "consent", "lapsed",
    "declined", "contract_not_registered", "revocation_confirmed", "revocation_dismissed",
    "expired_permit_refused", "permit_expires"}

def diagrams():
    forms_dir = PROCESSES / "forms"
    return [(path.name, path.read_bytes(), {p.name: p.read_bytes() for p in forms_dir.glob("*.json")})
            for path in sorted(PROCESSES.glob("*.bpmn"))]

@pytest.fixture
def gated(app):
    # The procedures as they are in processes/ (which the first test rehearses), then the gate
    # on for the versions each test deploys.
    app.config.update(FORMS_DIR=str(PROCESSES / "forms"))
    deploy_procedures(app)
    app.config.update(SCENARIO_GATE=True)
    return app

def live_counts():
    db.session.remove()
    return {model.__tablename__: db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
            for model in (Case, instances.ProcessInstance, audit.AuditEvent, definitions.ProcessDefinition)}

def test_every_scenario_replays_as_recorded_against_the_diagrams_in_processes(app):
    corpus = scenarios.load_all(SCENARIOS)
    names = {s.name for s in corpus}
    assert len(corpus) >= 20
    for path in PATHS:
        assert any(path in name for name in names), f"no scenario covers the path {path!r}"
    before = live_counts()
    found = scenarios.rehearse(diagrams(), app.config, scenarios=corpus)
    assert found == [], "\n".join(map(str, found))
    assert live_counts() == before, "a rehearsal leaves nothing behind"

def test_a_rehearsal_renders_every_decision_document_but_makes_no_pdf_and_stores_nothing(app, monkeypatch):
    from pathlib import Path
    from handlers import documents_pdf
    rendered = []
    real_render = documents_pdf.render_html
    monkeypatch.setattr(documents_pdf, "render_html", lambda key, *a: rendered.append(key) or real_render(key, *a))

    def no_pdf(html):
        raise AssertionError("a rehearsal made a PDF")
    monkeypatch.setattr(documents_pdf, "render_pdf", no_pdf)
    found = scenarios.rehearse(diagrams(), app.config, scenarios=scenarios.load_all(SCENARIOS))
    assert found == [], "\n".join(map(str, found))
    # Every kind of decision document was tried on the scenarios' data (a template error would show)...
    assert set(rendered) == set(documents_pdf.DOCUMENT_FOR_OUTCOME.values())
    # ...and none reached the document store, which outlives the rehearsal's rolled-back rows.
    assert [p for p in Path(app.config["DOCUMENT_STORE_DIR"]).rglob("*") if p.is_file()] == []

def test_a_flipped_gateway_condition_is_refused_naming_the_scenario_and_the_step(gated):
    before = live_counts()
    with pytest.raises(definitions.GateRefused) as refused:
        definitions.deploy("permit_revocation.bpmn", FLIPPED, {
            "revocation_review.schema.json": (PROCESSES / "forms" / "revocation_review.schema.json").read_bytes()},
            gated.config, actor="analyst")
    by_name = {r.scenario: r for r in refused.value.refusals}
    assert set(by_name) == {"revocation_confirmed", "revocation_dismissed"}
    confirmed = by_name["revocation_confirmed"]
    assert confirmed.step == 6 and confirmed.expected["outcome"]["code"] == "revoked"
    assert confirmed.got["outcome"]["code"] == "dismissed"
    assert "scenario 'revocation_confirmed', step 6" in str(confirmed)
    assert definitions.latest("permit_revocation").version == 1
    assert live_counts() == before
    assert definitions.current("permit_revocation").version == 1, "no cache remembers the rehearsal's version"

def test_a_change_that_keeps_every_scenario_deploys_as_version_two(gated):
    renamed = REVOCATION.read_bytes().replace(b'name="Review the revocation"', b'name="Review the revocation request"')
    assert renamed != REVOCATION.read_bytes()
    result = definitions.deploy("permit_revocation.bpmn", renamed, {
        "revocation_review.schema.json": (PROCESSES / "forms" / "revocation_review.schema.json").read_bytes()},
        gated.config, actor="analyst", comment="Clearer task name")
    assert [(r.version, r.created) for r in result] == [(2, True)]
    assert definitions.latest("permit_revocation").comment == "Clearer task name"

def test_an_override_with_a_reason_deploys_and_is_audited(gated):
    result = definitions.deploy("permit_revocation.bpmn", FLIPPED, {
        "revocation_review.schema.json": (PROCESSES / "forms" / "revocation_review.schema.json").read_bytes()},
        gated.config, actor="admin", override_reason="The law changed: confirmation is the exception now")
    assert result[0].version == 2
    assert definitions.latest("permit_revocation").override_reason.startswith("The law changed")
    [event] = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="definition_gate_overridden")).scalars()
    assert event.actor == "admin" and event.details["reason"].startswith("The law changed")
    assert {r["scenario"] for r in event.details["refusals"]} == {"revocation_confirmed", "revocation_dismissed"}

def test_the_cli_refuses_a_breaking_version_and_names_the_scenario(gated, tmp_path):
    candidate = tmp_path / "permit_revocation.bpmn"
    candidate.write_bytes(FLIPPED)
    runner = gated.test_cli_runner()
    result = runner.invoke(args=["processes", "deploy", str(candidate), "--comment", "flip"])
    assert result.exit_code == 1
    assert "revocation_confirmed" in result.output and "step 6" in result.output
    assert definitions.latest("permit_revocation").version == 1

def test_the_api_refuses_a_breaking_version_and_only_an_administrator_overrides(api, api_app):
    api_app.config.update(FORMS_DIR=str(PROCESSES / "forms"),
                          PROCEDURES=dict(Config.PROCEDURES))  # the permit procedures, not the API's stand-in
    deploy_procedures(api_app)
    api_app.config.update(SCENARIO_GATE=True)
    form = (PROCESSES / "forms" / "revocation_review.schema.json").read_bytes()

    def upload(headers, **text):
        data = {"bpmn": (io.BytesIO(FLIPPED), "permit_revocation.bpmn"),
                "forms": [(io.BytesIO(form), "revocation_review.schema.json")], **text}
        return api.post("/api/v1/process-definitions", headers=headers, data=data, content_type="multipart/form-data")

    analyst = make_token("modeler", ["definitions:write"])
    refused = upload(analyst, comment="flip")
    body = problem(refused, 422)
    conforms(refused, "/process-definitions")  # each refusal as the document's ScenarioRefusal
    assert {s["scenario"] for s in body["scenarios"]} == {"revocation_confirmed", "revocation_dismissed"}
    assert "revocation_confirmed" in body["errors"] and "step 6" in body["detail"]
    problem(upload(analyst, override_reason="I know better"), 403)
    assert definitions.latest("permit_revocation").version == 1
    admin = make_token("admin-tool", ["definitions:write"], role="admin")
    done = upload(admin, override_reason="The law changed")
    assert done.status_code == 201 and done.get_json()["deployed"][0]["version"] == 2

def test_a_scenario_file_that_cannot_be_replayed_is_refused_naming_the_file_and_step(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"procedures": ["permit_issue"], "expect": {"outcome": None},
                                "steps": [{"sweep": {}}]}))
    with pytest.raises(scenarios.ScenarioError, match=r"broken.json: step 1 needs `at`"):
        scenarios.load(path)
    path.write_text(json.dumps({"procedures": ["permit_issue"], "expect": {"outcome": None},
                                "steps": [{"at": "2026-06-10T10:00:00", "sweep": {}}]}))
    with pytest.raises(scenarios.ScenarioError, match="has no zone"):
        scenarios.load(path)
