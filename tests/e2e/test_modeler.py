"""The analysts' modeler in Chromium: edit permit_revocation, see a bad expression pinned, fix it,
deploy version 2 (checked as the CLI and the API check, scenarios included); cases started
before stay on version 1, cases started after run version 2; a flipped condition is refused."""
from pathlib import Path

import pytest
from babel.support import Translations

from engine import definitions, instances
from engine.db import db
from tests.inbox_support import PASSWORD, make_user
from tests.permit_support import PROCESSES, deploy_procedures, file_revocation, issue_permit, load_reference

CONFIRM_CONDITION = "review['decision'] == 'confirm'"
ROOT = Path(__file__).resolve().parents[2]
REVOCATION = (PROCESSES / "permit_revocation.bpmn").read_text()
MODELER = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor" / "modeler" / "modeler.js"


@pytest.fixture
def analyst_world(live_app):
    if not MODELER.exists():
        pytest.fail("the modeler bundle is missing (web/static/vendor/modeler): run `make assets`", pytrace=False)
    live_app.config["SCENARIO_GATE"] = True
    load_reference(live_app)
    deploy_procedures(live_app)
    make_user("gulnara", roles=("analyst",), region=None)
    permit_no = issue_permit(live_app)
    before = file_revocation(permit_no).id
    db.session.remove()
    yield {"permit_no": permit_no, "before": before}
    live_app.config["SCENARIO_GATE"] = False


def sign_in_as(page, username):
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/sign-in" not in url)


def select(page, element_id):
    # Clicking a thin sequence flow is fragile; selecting it is what a click does (after the
    # field being edited loses focus, as a click elsewhere makes it).
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.evaluate("id => { const m = window.permitsModeler; "
                  "m.get('selection').select(m.get('elementRegistry').get(id)); }", element_id)


def checks(page):
    return int(page.evaluate("() => document.getElementById('modeler').dataset.checks || '0'"))


def settled(page, after):
    """Wait until the server has checked the diagram again since `after` checks."""
    page.wait_for_function("n => { const d = document.getElementById('modeler').dataset; "
                           "return Number(d.checks || 0) > n && d.checking === 'no'; }", arg=after)


def version_of(instance_id):
    db.session.remove()
    row = instances.get(instance_id)
    return definitions.get(row.definition_id).version


def test_an_analyst_edits_checks_and_deploys_version_two_while_older_cases_keep_version_one(page, analyst_world):
    sign_in_as(page, "gulnara")
    page.goto("/modeler/permit_revocation")
    page.wait_for_function("() => document.getElementById('modeler').dataset.state === 'ready'")
    settled(page, 0)
    assert page.locator("#modeler-status").inner_text() == "No problems"

    select(page, "review")  # rename a task
    seen = checks(page)
    page.locator("#bio-properties-panel-name").fill("Review the revocation request")
    settled(page, seen)

    select(page, "dismissal")  # take its operator away: the check pins it; pick it from the catalogue
    operator = page.locator("#bio-properties-panel-spiff-operator")
    seen = checks(page)
    operator.select_option("")
    settled(page, seen)
    assert "no handler is registered for operator ''" in page.locator('.problem-pin[data-element-id="dismissal"]').inner_text()
    seen = checks(page)
    operator.select_option("revocations.dismissal")
    settled(page, seen)
    assert page.locator("#bio-properties-panel-spiff-param-revocation").input_value() == "revocation"

    select(page, "f_confirm")  # a bad expression is pinned on its flow, then fixed
    condition = page.locator("#bio-properties-panel-spiff-condition")
    seen = checks(page)
    condition.fill("__import__('os').system('true')")
    settled(page, seen)
    pin = page.locator('.problem-pin[data-element-id="f_confirm"]')
    assert pin.is_visible() and "condition" in pin.inner_text().lower()
    seen = checks(page)
    condition.fill(CONFIRM_CONDITION)
    settled(page, seen)
    assert page.locator("#modeler-status").inner_text() == "No problems"

    page.locator("#modeler-comment").fill("Clearer name of the review task")
    page.get_by_role("button", name="Deploy").click()
    page.wait_for_function("() => document.getElementById('modeler-result').dataset.outcome")
    assert page.locator("#modeler-result").inner_text() == "Deployed permit_revocation version 2"

    newest = definitions.latest("permit_revocation")
    assert (newest.version, newest.deployed_by, newest.comment) == (2, "gulnara", "Clearer name of the review task")
    assert 'name="Review the revocation request"' in newest.bpmn_xml
    after = file_revocation(analyst_world["permit_no"]).id
    assert version_of(analyst_world["before"]) == 1 and version_of(after) == 2
    db.session.remove()  # this thread's transaction would hold SQLite's write lock from the server

    condition_flip = "review['decision'] != 'confirm'"  # breaks the recorded revocations
    select(page, "review")
    select(page, "f_confirm")
    assert page.locator("#bio-properties-panel-spiff-condition").input_value() == CONFIRM_CONDITION
    seen = checks(page)
    page.locator("#bio-properties-panel-spiff-condition").fill(condition_flip)
    settled(page, seen)
    page.get_by_role("button", name="Deploy").click()
    page.wait_for_function("() => document.getElementById('modeler-result').dataset.outcome === 'refused'")
    refusal = page.locator("#modeler-result").inner_text()
    assert "scenario 'revocation_confirmed', step 6" in refusal
    assert definitions.latest("permit_revocation").version == 2


@pytest.fixture
def russian_analyst(live_app):
    """marat reads Russian; permit_revocation has a version 2 whose review task is renamed."""
    if not MODELER.exists():
        pytest.fail("the modeler bundle is missing (web/static/vendor/modeler): run `make assets`", pytrace=False)
    from web.inbox import users
    deploy_procedures(live_app)
    if definitions.latest("permit_revocation").version == 1:
        renamed = REVOCATION.replace('name="Review the revocation"', 'name="Review the revocation request"')
        definitions.deploy("permit_revocation.bpmn", renamed.encode(), definitions.named_forms(
            renamed.encode(), live_app.config), live_app.config, actor="test", comment="renamed")
    if users.by_username("marat") is None:
        make_user("marat", roles=("analyst",), region=None, language="ru")
    db.session.remove()


def test_a_russian_analyst_sees_lint_pinned_a_form_preview_and_the_diff_of_two_versions(page, russian_analyst):
    ru = Translations.load(str(ROOT / "translations"), ["ru"])
    sign_in_as(page, "marat")
    page.goto("/modeler/permit_revocation")
    page.wait_for_function("() => document.getElementById('modeler').dataset.state === 'ready'")
    settled(page, 0)
    assert page.locator("#modeler-status").inner_text() == "Проблем нет"
    assert page.locator("#compare-title").inner_text() == "Сравнить версии"

    select(page, "dismissal")  # the project's panel group, in Russian
    assert page.locator(".bio-properties-panel-group-header-title", has_text="Сервисная задача (движок)").count() == 1

    select(page, "review")  # the form preview: the inbox's own form, not submittable
    preview = page.locator("#modeler-form-preview")
    page.wait_for_function("() => document.getElementById('modeler-form-preview').dataset.form === "
                           "'revocation_review.schema.json'")
    assert preview.locator("h3").inner_text() == ru.gettext("Review of the revocation")
    assert preview.locator('input[name="decision"]').count() == 2
    assert preview.locator('[name="comment"]').is_disabled()

    seen = checks(page)  # a task without a name breaks bpmnlint's label-required: pinned on it
    page.locator("#bio-properties-panel-name").fill("")
    settled(page, seen)
    pin = page.locator('.problem-pin.lint[data-element-id="review"]')
    assert pin.is_visible()
    assert "У элемента должно быть название" in pin.inner_text() and "label-required" in pin.inner_text()
    assert page.locator('#modeler-problems li.lint[data-element-id="review"]').count() == 1
    assert page.locator("#modeler-status").inner_text() == "Проблемы: 1"
    assert page.locator('.djs-element.has-lint[data-element-id="review"]').count() == 1

    page.locator("#modeler-compare-from").select_option("1")  # version 1 against version 2
    page.locator("#modeler-compare-to").select_option("2")
    page.get_by_role("button", name="Сравнить", exact=True).click()
    page.wait_for_function("() => document.getElementById('modeler').dataset.compared === '1-2'")
    changes = page.locator("#modeler-compare-changes li")
    assert changes.count() == 1
    assert changes.first.inner_text() == ("изменено: Review the revocation request (review) — "
                                          "название: «Review the revocation» → «Review the revocation request»")
    assert page.locator('#modeler-compare-to-canvas .djs-element.diff-changed[data-element-id="review"]').count() == 1
    assert page.locator('#modeler-compare-from-canvas .djs-element.diff-changed[data-element-id="review"]').count() == 1
    assert page.locator("#modeler-compare-to-title").inner_text() == "версия 2"
