"""The officers' inbox in a real browser: sign in, take a task, see the form refuse and accept,
find the case finished on its diagram; another region's officer sees none of it."""
from __future__ import annotations

import re

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture fails these tests with the reason
    expect = None

from engine.db import db
from tests.e2e.conftest import ROOT, sign_in

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
PERMIT_ISSUE = ROOT / "processes" / "permit_issue.bpmn"
SAMPLE = ROOT / "tests" / "bpmn" / "sample.bpmn"


@pytest.fixture(scope="module")
def people(live_app):
    from web.inbox import users
    for username, region in (("aigul", "AST"), ("dana", "SHY")):
        users.create_user(username, PASSWORD, ["officer"], region, actor="test")
    db.session.remove()  # no transaction left open while the server works
    return live_app


@pytest.fixture(scope="module")
def sample_case(people):
    from engine import definitions
    from tests.inbox_support import open_sample_case
    definitions.deploy_file(SAMPLE, dict(people.config, FORMS_DIR=str(SAMPLE.parent / "forms")), actor="test")
    case = open_sample_case(name="Karimov Rustam", number="SAMPLE-E2E-1")
    ids = (case.id, case.application_no)
    db.session.remove()
    return ids


@pytest.fixture(scope="module")
def permit_case(people):
    """An issue case of the real procedure waiting at "Decide on the permit" (police agreed)."""
    if not PERMIT_ISSUE.exists():
        pytest.fail("processes/permit_issue.bpmn is missing")
    from engine import clock, definitions, scheduler
    from handlers import police
    from handlers import demo
    definitions.deploy_directory(PERMIT_ISSUE.parent, people.config, actor="test")  # and what it starts
    demo.load_reference_data(people.config)
    case = demo.open_demo_case("E2E-0001", "AST", ("Tursunov", "Bekzod", "910405", "3", "TJ"))
    scheduler.run_jobs()  # the checks and the police request, as a worker runs them after a filing
    police.deliver_due_replies(clock.now())
    ids = (case.id, case.application_no)
    db.session.remove()
    return ids


def take_task(page, case_number, step):
    row = page.get_by_role("row").filter(has_text=case_number).filter(has_text=step)
    row.get_by_role("button", name="Take").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(step)
    expect(page.get_by_text("You took the task")).to_be_visible()


def diagram_element(page, element_id):
    canvas = page.locator(".diagram-canvas")
    expect(canvas).to_have_attribute("data-state", "ready")
    return page.locator(f'g.djs-element[data-element-id="{element_id}"]')


def test_an_officer_takes_the_sample_review_fails_then_passes_the_form_and_sees_the_end(page, sample_case):
    instance_id, number = sample_case
    sign_in(page, "aigul", PASSWORD)
    expect(page.get_by_role("row").filter(has_text=number)).to_contain_text("Karimov Rustam")
    take_task(page, number, "Review the request")

    page.get_by_label("Reject").check()
    page.get_by_role("button", name="Complete the task").click()
    comment = page.locator('[data-field="comment"]')
    expect(comment.locator(".error")).to_have_text("this field is required")
    expect(page.get_by_role("alert")).to_contain_text("The form has errors")

    page.get_by_label("Approve").check()
    page.get_by_label("Comment").fill("Checked against the passport.")
    page.get_by_role("button", name="Complete the task").click()
    page.wait_for_url("**/inbox")
    expect(page.get_by_role("status")).to_contain_text(f"of case {number} is completed")

    page.goto(f"/cases/{instance_id}")
    expect(page.locator("#case-status")).to_have_text("Completed")
    expect(diagram_element(page, "end_done")).to_have_class(re.compile(r"\bstep-done\b"))
    expect(diagram_element(page, "review")).to_have_class(re.compile(r"\bstep-done\b"))
    expect(diagram_element(page, "end_rejected")).not_to_have_class(re.compile(r"\bstep-done\b"))
    expect(page.locator("ol.timeline")).to_contain_text("Task completed")


def test_an_officer_refuses_without_a_ground_is_stopped_then_issues_the_permit(page, permit_case):
    instance_id, number = permit_case
    sign_in(page, "aigul", PASSWORD)
    take_task(page, number, "Decide on the permit")
    expect(page.get_by_role("heading", name=re.compile("Application and identity data"))).to_be_visible()

    page.get_by_label("Refuse").check()
    page.get_by_role("button", name="Complete the task").click()
    grounds = page.locator('[data-field="grounds"]')
    expect(grounds.locator(".error")).to_contain_text("choose at least one ground")
    expect(grounds.locator("fieldset")).to_have_attribute("aria-describedby", re.compile("field-grounds-error"))

    page.get_by_label("The application matches the identity document").check()
    page.get_by_label("Issue the permit").check()
    page.get_by_role("button", name="Complete the task").click()
    page.wait_for_url("**/inbox")
    expect(page.get_by_role("status")).to_contain_text(f"of case {number} is completed")

    page.goto(f"/cases/{instance_id}")
    expect(page.locator("#case-outcome")).to_have_text("Permit issued")
    expect(page.locator("#case-status")).to_have_text("Completed")
    expect(diagram_element(page, "end_issued")).to_have_class(re.compile(r"\bstep-done\b"))
    expect(diagram_element(page, "decide")).to_have_class(re.compile(r"\bstep-done\b"))
    expect(page.get_by_role("heading", name="Permit")).to_be_visible()
    expect(page.locator("section", has=page.get_by_role("heading", name="Permit"))).to_contain_text("AST-")


def test_an_officer_of_another_region_sees_none_of_it(page, sample_case, permit_case):
    sign_in(page, "dana", PASSWORD)
    inbox = page.locator("main")
    for _, number in (sample_case, permit_case):
        expect(inbox).not_to_contain_text(number)
    for instance_id, number in (sample_case, permit_case):
        response = page.goto(f"/cases/{instance_id}")
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        page.goto(f"/search?q={number}")
        expect(page.get_by_text("No case found.")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text(number)


def test_an_officer_signs_in_and_takes_a_task_with_the_keyboard_alone(page, people):
    from tests.inbox_support import open_sample_case
    number = open_sample_case(name="Keyboard Applicant", number="SAMPLE-E2E-KEYS").application_no
    db.session.remove()
    page.goto("/sign-in")
    expect(page.get_by_label("Username")).to_be_focused()  # autofocus
    page.keyboard.type("aigul")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/inbox")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    take = page.get_by_role("button", name=f"Take the task Review the request of case {number}")
    for _ in range(60):
        page.keyboard.press("Tab")
        if take.evaluate("button => button === document.activeElement"):
            break
    expect(take).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("You took the task")).to_be_visible()
