"""The inbox for an 8-hour day in a real browser (issue 21): sort by a column and back, save a
filter and apply it, complete a task and land on the next one, and see the list refresh itself
when a new task arrives, without reloading the page."""
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
SAMPLE = ROOT / "tests" / "bpmn" / "sample.bpmn"


@pytest.fixture(scope="module")
def queue(live_app):
    from engine import definitions
    from tests.inbox_support import open_sample_case
    from web.inbox import users
    users.create_user("aigul", PASSWORD, ["officer"], "AST", actor="test")
    definitions.deploy_file(SAMPLE, dict(live_app.config, FORMS_DIR=str(SAMPLE.parent / "forms")), actor="test")
    for number, day in (("E2E-B", 17), ("E2E-C", 15), ("E2E-A", 16)):
        open_sample_case(name=f"Applicant {number}", number=number, due=f"2026-06-{day}T23:59:59+05:00")
    live_app.config["INBOX_REFRESH_SECONDS"] = 1
    db.session.remove()
    return live_app


def case_column(page):
    return page.locator("table.tasks tbody tr td:first-child")


def test_sort_by_a_column_then_save_and_apply_the_filter(page, queue):
    sign_in(page, "aigul", PASSWORD)
    expect(case_column(page)).to_have_text(["E2E-C", "E2E-A", "E2E-B"])  # soonest deadline first
    expect(page.get_by_text("3 tasks")).to_be_visible()
    page.get_by_role("link", name="Case", exact=True).click()
    expect(case_column(page)).to_have_text(["E2E-A", "E2E-B", "E2E-C"])
    page.get_by_role("link", name=re.compile(r"^Case\b")).click()  # again: the reverse order
    expect(case_column(page)).to_have_text(["E2E-C", "E2E-B", "E2E-A"])
    expect(page.locator("th[aria-sort]")).to_have_attribute("aria-sort", "descending")

    page.get_by_label("Save this filter as").fill("Cases Z to A")
    page.get_by_role("button", name="Save the filter").click()
    expect(page.get_by_text("Filter “Cases Z to A” saved.")).to_be_visible()
    page.get_by_role("link", name="Inbox", exact=True).click()
    expect(case_column(page)).to_have_text(["E2E-C", "E2E-A", "E2E-B"])
    page.get_by_role("link", name="Cases Z to A").click()
    expect(case_column(page)).to_have_text(["E2E-C", "E2E-B", "E2E-A"])
    assert "sort=-case" in page.url


def test_completing_a_task_lands_on_the_next_one(page, queue):
    sign_in(page, "aigul", PASSWORD)
    page.get_by_role("button", name="Take the task Review the request of case E2E-C").click()
    expect(page.get_by_label("Open the next task after completing")).to_be_checked()
    page.get_by_label("Approve").check()
    page.get_by_role("button", name="Complete the task").click()
    expect(page.get_by_text("Done: “Review the request” of case E2E-C is completed.")).to_be_visible()
    expect(page.get_by_text("Next: “Review the request” of case E2E-A.")).to_be_visible()
    assert "/tasks/" in page.url
    expect(page.get_by_role("button", name="Take this task")).to_be_visible()


def test_the_list_refreshes_itself_when_a_task_arrives(page, queue):
    from tests.inbox_support import open_sample_case
    sign_in(page, "aigul", PASSWORD)
    expect(page.get_by_text("2 tasks")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    open_sample_case(name="Applicant E2E-NEW", number="E2E-NEW", due="2026-06-14T23:59:59+05:00")
    db.session.remove()
    expect(page.get_by_text("3 tasks")).to_be_visible()
    expect(case_column(page).first).to_have_text("E2E-NEW")
    expect(page.get_by_text(re.compile(r"updated at \d\d:\d\d"))).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
