"""Supervisors and administrators in a real browser (issue 21): the start page with many tasks
reassigned at once, an absence with its substitute taking over, the compliance report, and an
account made on the administration page after a refused first try."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture fails these tests with the reason
    expect = None

from engine.db import db
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
SAMPLE = ROOT / "tests" / "bpmn" / "sample.bpmn"


@pytest.fixture(scope="module")
def region(live_app):
    from engine import clock, definitions, tasks
    from engine.calendar import current_calendar
    from tests.inbox_support import open_sample_case, open_task_of
    from web.inbox import users
    for username, roles, area, name in (("aigul", ["officer"], "AST", "Aigul Sarsenova"),
                                        ("berik", ["officer"], "AST", "Berik Omarov"),
                                        ("erlan", ["supervisor"], "AST", "Erlan Supervisor"),
                                        ("root", ["admin"], None, None)):
        users.create_user(username, PASSWORD, roles, area, actor="test", full_name=name)
    definitions.deploy_file(SAMPLE, dict(live_app.config, FORMS_DIR=str(SAMPLE.parent / "forms")), actor="test")
    calendar = current_calendar()
    today = calendar.local_date(clock.now())
    at_risk = datetime.combine(calendar.add_working_days(today, 1), time(23, 59, 59), tzinfo=calendar.tz)
    numbers = {}
    for label, due in (("OVERDUE", "2020-01-10T23:59:59+05:00"), ("RISK", at_risk.isoformat()),
                       ("CLAIMED", "2020-01-11T23:59:59+05:00")):
        case = open_sample_case(name=f"{label.title()} Applicant", number=f"E2E-{label}", due=due)
        numbers[label] = open_task_of(case.id).id
    tasks.claim(numbers["CLAIMED"], tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"})))
    db.session.remove()
    return {"today": today, "tasks": numbers}


def sign_in_as(page, username):
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/sign-in" not in url)


def test_the_supervisor_starts_on_deadlines_and_moves_two_tasks_to_one_officer(page, region):
    sign_in_as(page, "erlan")
    assert page.url.endswith("/overview")
    expect(page.get_by_role("heading", level=1)).to_have_text("Deadlines and workload")
    expect(page.locator("#total-overdue")).to_have_text("2")
    expect(page.locator("#total-at_risk")).to_have_text("1")
    page.get_by_label("Select Review the request of case E2E-OVERDUE").check()
    page.get_by_label("Select Review the request of case E2E-RISK").check()
    page.get_by_label("Move the selected tasks to").select_option("berik")
    page.get_by_role("button", name="Reassign the selected tasks").click()
    expect(page.get_by_text("2 task(s) now with Berik Omarov.")).to_be_visible()
    workload = page.locator("table.workload")
    expect(workload.get_by_role("row").filter(has_text="Berik Omarov")).to_contain_text("2")
    expect(workload.get_by_role("row").filter(has_text="Aigul Sarsenova")).to_contain_text("1")


def test_an_officer_records_her_absence_and_the_substitute_takes_over_her_task(page, region):
    sign_in_as(page, "aigul")
    page.get_by_role("link", name="Absences").click()
    page.get_by_label("Substitute", exact=True).select_option("berik")
    page.get_by_label("From (first day away)").fill(region["today"].isoformat())
    page.get_by_label("To (last day away)").fill((region["today"] + timedelta(days=7)).isoformat())
    page.get_by_role("button", name="Record the absence").click()
    expect(page.get_by_text("Berik Omarov substitutes for Aigul Sarsenova")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()

    sign_in_as(page, "berik")
    page.goto("/inbox?scope=mine")
    row = page.get_by_role("row").filter(has_text="E2E-CLAIMED")
    expect(row).to_contain_text("aigul")
    row.get_by_role("button", name="Take over").click()
    expect(page.get_by_text("You took the task")).to_be_visible()
    page.goto("/inbox?scope=mine")
    expect(page.get_by_role("row").filter(has_text="E2E-CLAIMED")).to_contain_text("you")


def test_the_supervisor_reads_the_compliance_report_with_its_chart(page, region):
    sign_in_as(page, "erlan")
    page.get_by_role("link", name="Deadline compliance").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Deadline compliance")
    expect(page.locator("figure.chart svg")).to_be_visible()
    month = region["today"].strftime("%Y-%m")
    expect(page.locator(f'tr[data-region="AST"][data-month="{month}"]')).to_be_visible()
    link = page.get_by_role("link", name="Download CSV")
    expect(link).to_have_attribute("href", f"/reports/compliance.csv?year={region['today'].year}")


def test_the_administrator_creates_an_account_after_correcting_the_refused_fields(page, region):
    sign_in_as(page, "root")
    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Accounts")
    page.get_by_label("Username").fill("nurlan")
    page.get_by_label("Full name").fill("Nurlan Abenov")
    page.get_by_label("officer", exact=True).check()
    page.get_by_label("Password (at least 10 characters)").fill("long-enough-pw")
    page.get_by_label("The password again").fill("something-else")
    page.get_by_role("button", name="Create the account").click()
    expect(page.locator("#error-region")).to_have_text("Officers and supervisors work in one region: choose it.")
    expect(page.locator("#error-password_again")).to_have_text("The two passwords differ.")
    expect(page.get_by_label("Username")).to_have_value("nurlan")
    page.get_by_label("Region (officers and supervisors)").select_option("AST")
    page.get_by_label("Password (at least 10 characters)").fill("long-enough-pw")
    page.get_by_label("The password again").fill("long-enough-pw")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_text("Account nurlan created.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Nurlan Abenov")).to_contain_text("Astana")
