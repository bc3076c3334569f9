"""The modeler's server side: only analysts and administrators reach it; validation is the
deploy's own; a deploy from the page needs a comment, passes the same checks and scenarios as
the CLI and the API, and only an administrator may override failing scenarios."""
import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

from engine import audit, definitions
from engine.db import db
from tests.inbox_support import client, csrf, make_user, sign_in  # noqa: F401  fixtures
from tests.permit_support import PROCESSES, deploy_procedures

REVOCATION = (PROCESSES / "permit_revocation.bpmn").read_text()
ROOT = Path(__file__).resolve().parents[1]
FLIPPED = REVOCATION.replace("review['decision'] == 'confirm'", "review['decision'] != 'confirm'")


@pytest.fixture
def procedures(app):
    # The procedures of processes/ (tests/test_scenarios.py rehearses them), then the gate on for
    # what the analyst deploys from the page.
    app.config.update(FORMS_DIR=str(PROCESSES / "forms"))
    deploy_procedures(app)
    app.config.update(SCENARIO_GATE=True)
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


RENAMED = REVOCATION.replace('name="Review the revocation"', 'name="Check the revocation"')


def deploy_renamed(app):
    definitions.deploy("permit_revocation.bpmn", RENAMED.encode(), definitions.named_forms(
        RENAMED.encode(), app.config), app.config, actor="test", comment="renamed")


def test_the_diff_between_two_versions_names_the_renamed_task_and_a_changed_condition(procedures, client):
    deploy_renamed(procedures)
    make_user("gulnara", roles=("analyst",), region=None)
    sign_in(client, "gulnara")
    answer = client.get("/modeler/permit_revocation/diff.json?from=1&to=2")
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["from"], body["to"], body["added"], body["removed"]) == (1, 2, [], [])
    [review] = body["changed"]
    assert (review["id"], review["name"]) == ("review", "Check the revocation")
    assert review["changes"] == [{"field": "name", "label": "name", "before": "Review the revocation",
                                  "after": "Check the revocation"}]
    back = client.get("/modeler/permit_revocation/diff.json?from=2&to=1").get_json()
    assert back["changed"][0]["changes"][0]["after"] == "Review the revocation"
    same = client.get("/modeler/permit_revocation/diff.json?from=1&to=1").get_json()
    assert (same["added"], same["removed"], same["changed"]) == ([], [], [])
    old_version = client.get("/modeler/permit_revocation/versions/1/diagram.bpmn")
    assert old_version.status_code == 200 and old_version.get_data(as_text=True) == REVOCATION


def test_the_element_comparison_sees_added_removed_and_changed_conditions():
    from engine import diagram_diff
    flipped = diagram_diff.compare(REVOCATION, FLIPPED)["changed"]
    assert [(c["id"], c["changes"]) for c in flipped] == [("f_confirm", [{
        "field": "conditionExpression", "before": "review['decision'] == 'confirm'",
        "after": "review['decision'] != 'confirm'"}])]
    renamed_id = REVOCATION.replace('id="review"', 'id="review_2"').replace(">review<", ">review_2<")
    found = diagram_diff.compare(REVOCATION, renamed_id)
    assert [e["id"] for e in found["added"]] == ["review_2"] and [e["id"] for e in found["removed"]] == ["review"]
    with pytest.raises(diagram_diff.DiagramError):
        diagram_diff.compare(REVOCATION, "<not-bpmn/>")


@pytest.mark.parametrize("query, status, field, reason", [
    ("from=1", 400, "to", "give the version number"),
    ("from=one&to=2", 400, "from", "must be a whole number"),
    ("from=1&to=-2", 400, "to", "must be a whole number"),
    ("from=1&to=7", 404, "to", "permit_revocation has no version 7"),
])
def test_a_diff_with_bad_versions_is_refused_naming_the_field(procedures, client, query, status, field, reason):
    deploy_renamed(procedures)
    make_user("gulnara", roles=("analyst",), region=None)
    sign_in(client, "gulnara")
    answer = client.get(f"/modeler/permit_revocation/diff.json?{query}")
    assert answer.status_code == status
    assert answer.get_json()["errors"][field] == [reason]
    assert client.get("/modeler/no_such_process/diff.json?from=1&to=2").status_code == 404
    assert client.get("/modeler/permit_revocation/versions/9/diagram.bpmn").status_code == 404


def test_the_form_preview_is_the_inbox_form_with_its_fields_and_cannot_be_sent(procedures, client):
    make_user("gulnara", roles=("analyst",), region=None)
    sign_in(client, "gulnara")
    answer = client.get("/modeler/form-preview?form=revocation_review.schema.json")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    schema = json.loads((PROCESSES / "forms" / "revocation_review.schema.json").read_text())
    assert f"<h3>{schema['title']}</h3>" in html
    for name, prop in schema["properties"].items():
        assert f'name="{name}"' in html or f'name="{name}.' in html, name
        if prop.get("title"):
            assert prop["title"] in html
    assert "<fieldset disabled" in html and "action=" not in html


@pytest.mark.parametrize("query, status, reason", [
    ("", 400, "give the form's file name"),
    ("form=../config.py", 400, "must be the file name of a form, such as decision.schema.json"),
    ("form=missing.schema.json", 404, "there is no form missing.schema.json"),
])
def test_a_form_preview_of_a_bad_name_is_refused_naming_the_field(procedures, client, query, status, reason):
    make_user("gulnara", roles=("analyst",), region=None)
    sign_in(client, "gulnara")
    answer = client.get(f"/modeler/form-preview?{query}")
    assert (answer.status_code, answer.get_json()["errors"]) == (status, {"form": [reason]})


@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_only_analysts_and_administrators_compare_versions_and_preview_forms(procedures, client, role):
    deploy_renamed(procedures)
    make_user("aigul", roles=(role,), region="AST")
    sign_in(client, "aigul")
    for path in ("/modeler/permit_revocation/diff.json?from=1&to=2", "/modeler/form-preview?form=decision.schema.json",
                 "/modeler/permit_revocation/versions/1/diagram.bpmn"):
        assert client.get(path).status_code == 404, path
    make_user("admin", roles=("admin",), region=None)
    admin = procedures.test_client()
    sign_in(admin, "admin")
    assert admin.get("/modeler/permit_revocation/diff.json?from=1&to=2").status_code == 200
    assert admin.get("/modeler/form-preview?form=decision.schema.json").status_code == 200


def test_the_page_hands_its_labels_to_the_script_in_the_officers_language(procedures, client):
    make_user("gulnara", roles=("analyst",), region=None, language="ru")
    sign_in(client, "gulnara")
    html = client.get("/modeler/permit_revocation").get_data(as_text=True)
    labels = json.loads(unescape(re.search(r'data-labels="([^"]*)"', html).group(1)))
    rules = json.loads(unescape(re.search(r'data-lint-rules="([^"]*)"', html).group(1)))
    assert labels["no_problems"] == "Проблем нет" and labels["operator"] == "Оператор"
    assert rules["label-required"] == "У элемента должно быть название"
    assert "Сравнить версии" in html


def test_the_four_procedures_lint_clean_with_the_pages_rules_and_a_nameless_task_does_not(tmp_path):
    node = shutil.which("node")
    assert node, "node is needed for the modeler's lint rules (apt-get install nodejs; npm ci)"
    clean = subprocess.run([node, str(ROOT / "scripts" / "lint_processes.js")], capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.count(": 0 problem(s)") == 4
    nameless = tmp_path / "nameless.bpmn"
    nameless.write_text(REVOCATION.replace('name="Review the revocation"', 'name=""'))
    dirty = subprocess.run([node, str(ROOT / "scripts" / "lint_processes.js"), str(nameless)], capture_output=True,
                           text=True, cwd=ROOT, timeout=120)
    assert dirty.returncode == 1
    assert "nameless.bpmn\treview\terror\tlabel-required\tElement is missing label/name" in dirty.stdout
