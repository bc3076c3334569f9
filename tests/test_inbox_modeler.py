"""The modeler's server side: only analysts and administrators reach it; validation is the
deploy's own; a deploy from the page needs a comment, passes the same checks and scenarios as
the CLI and the API, and only an administrator may override failing scenarios."""
import pytest

from engine import audit, definitions
from engine.db import db
from tests.inbox_support import client, csrf, make_user, sign_in  # noqa: F401  fixtures
from tests.permit_support import PROCESSES, deploy_procedures

REVOCATION = (PROCESSES / "permit_revocation.bpmn").read_text()
FLIPPED = REVOCATION.replace("review['decision'] == 'confirm'", "review['decision'] != 'confirm'")


@pytest.fixture
def procedures(app):
    app.config.update(FORMS_DIR=str(PROCESSES / "forms"), SCENARIO_GATE=True)
    deploy_procedures(app)
    return app


def deploy(client, body):
    return client.post("/modeler/permit_revocation/deploy", json=body,
                       headers={"X-CSRFToken": csrf(client, "/catalogue")})


@pytest.mark.parametrize("role, region", [("officer", "AST"), ("supervisor", "AST")])
def test_officers_and_supervisors_never_reach_the_modeler(procedures, client, role, region):
    make_user("aigul", roles=(role,), region=region)
    sign_in(client, "aigul")
    for path in ("/modeler/permit_revocation", "/modeler/permit_revocation/diagram.bpmn", "/modeler/catalogue.json"):
        assert client.get(path).status_code == 404, path
    assert client.post("/modeler/permit_revocation/deploy", json={"bpmn": FLIPPED, "comment": "x"}).status_code in (400, 404)
    assert definitions.latest("permit_revocation").version == 1


def test_an_analyst_opens_the_page_and_the_check_pins_a_bad_expression(procedures, client):
    make_user("gulnara", roles=("analyst",), region=None)
    sign_in(client, "gulnara")
    page = client.get("/modeler/permit_revocation")
    assert page.status_code == 200 and 'id="modeler"' in page.get_data(as_text=True)
    assert client.get("/modeler/permit_revocation/diagram.bpmn").get_data(as_text=True) == REVOCATION
    bad = REVOCATION.replace("review['decision'] == 'confirm'", "__import__('os')")
    report = client.post("/modeler/validate", data=bad, content_type="application/xml",
                         headers={"X-CSRFToken": csrf(client, "/catalogue")}).get_json()
    assert report["valid"] is False and {p["element_id"] for p in report["problems"]} == {"f_confirm"}


def test_a_deploy_from_the_page_needs_a_comment_and_is_refused_like_the_api_when_it_breaks_a_scenario(procedures, client):
    make_user("gulnara", roles=("analyst",), region=None)
    sign_in(client, "gulnara")
    assert "comment" in deploy(client, {"bpmn": REVOCATION}).get_json()["errors"]
    assert "bpmn" in deploy(client, {"comment": "x"}).get_json()["errors"]
    refused = deploy(client, {"bpmn": FLIPPED, "comment": "flip"})
    assert refused.status_code == 422
    assert {s["scenario"] for s in refused.get_json()["scenarios"]} == {"revocation_confirmed", "revocation_dismissed"}
    not_admin = deploy(client, {"bpmn": FLIPPED, "comment": "flip", "override_reason": "trust me"})
    assert not_admin.status_code == 422 and "override_reason" in not_admin.get_json()["errors"]
    assert definitions.latest("permit_revocation").version == 1


def test_an_administrator_overrides_failing_scenarios_with_a_reason_audited(procedures, client):
    make_user("admin", roles=("admin",), region=None)
    sign_in(client, "admin")
    done = deploy(client, {"bpmn": FLIPPED, "comment": "flip", "override_reason": "The law changed"})
    assert done.status_code == 201 and done.get_json()["deployed"][0]["version"] == 2
    newest = definitions.latest("permit_revocation")
    assert (newest.deployed_by, newest.comment, newest.override_reason) == ("admin", "flip", "The law changed")
    assert any(e.event == "definition_gate_overridden" for e in db.session.query(audit.AuditEvent))
