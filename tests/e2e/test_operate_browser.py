"""Supervisors and administrators operate running cases in a real browser: retry the selected
incidents and read each result; preview moving running cases to a new version."""
from __future__ import annotations

import re

import pytest
import time_machine

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture fails these tests with the reason
    expect = None

from engine import definitions, instances
from engine.db import db
from tests import permit_support as ps

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
FILED = ps.almaty(2026, 3, 20, 10, 0)


@pytest.fixture(scope="module")
def operators_world(live_app, tmp_path_factory):
    """Three Shymkent cases stopped at the quota hold (no quota loaded), two Astana cases at the
    decision, and version 2 of the procedure with a renamed task."""
    from handlers import reference
    from web.inbox import users
    users.create_user("erlan", PASSWORD, ["supervisor"], "SHY", actor="test")
    users.create_user("root", PASSWORD, ["admin"], None, actor="test")
    ps.deploy_procedures(live_app, "permit_issue")
    ps.load_reference(live_app)
    with time_machine.travel(FILED, tick=False):
        stuck = [ps.file_application(ps.application(application_no=f"SHY-{i}", region="SHY")).id for i in range(3)]
        waiting = [ps.file_application(ps.application(application_no=f"AST-{i}")).id for i in range(2)]
        ps.sweep(live_app)
    v1 = instances.get(waiting[0]).definition_id
    text = (ps.PROCESSES / "permit_issue.bpmn").read_text(encoding="utf-8").replace("police_answered", "note_police_answer")
    path = tmp_path_factory.mktemp("v2") / "permit_issue.bpmn"
    path.write_text(text, encoding="utf-8")
    definitions.deploy_file(path, dict(live_app.config, FORMS_DIR=str(ps.PROCESSES / "forms")), actor="test")
    v2 = definitions.latest("permit_issue").id
    reference.set_quota("SHY", 2026, 5, actor="test", regions=live_app.config["REGIONS"])
    db.session.commit()
    db.session.remove()
    return {"stuck": stuck, "waiting": waiting, "v1": v1, "v2": v2}


def sign_in(page, username):
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/(inbox|incidents|overview)$"))  # supervisors land on /overview


def test_a_supervisor_retries_two_selected_incidents_and_sees_each_result(page, operators_world):
    sign_in(page, "erlan")
    page.goto("/incidents")
    expect(page.get_by_text("Likely fix:").first).to_be_visible()
    expect(page.get_by_text("flask reference set-quota SHY 2026 UNITS").first).to_be_visible()
    page.get_by_label("Select case SHY-0").check()
    page.get_by_label("Select case SHY-1").check()
    page.get_by_role("button", name="Retry selected").click()
    expect(page.get_by_text("2 of 2 cases moved on.")).to_be_visible()
    results = page.locator(".retry-results tbody tr")
    expect(results).to_have_count(2)
    expect(results.filter(has_text="SHY-0")).to_contain_text("Moved on")
    expect(page.get_by_label("Select case SHY-2")).to_be_visible()  # still an incident, still listed
    db.session.remove()
    assert [instances.get(i).status for i in operators_world["stuck"]] == ["in_progress", "in_progress", "incident"]
    db.session.remove()  # no transaction left open while the server works


def test_an_administrator_sees_cases_on_the_diagram_and_previews_the_move_to_version_two(page, operators_world):
    sign_in(page, "root")
    page.goto(f"/definitions/{operators_world['v1']}")
    expect(page.locator(".diagram-canvas")).to_have_attribute("data-state", "ready")
    expect(page.locator('.djs-overlay .element-count.count-running').first).to_be_visible()
    page.goto(f"/definitions/{operators_world['v2']}")
    page.get_by_label("Renamed activities, one per line: old_id=new_id").fill("police_answered=note_police_answer")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Preview: moving running cases to version 2")
    expect(page.locator("#migration-verdicts tr.movable").filter(has_text="AST-0")).to_contain_text("Can move")
    db.session.remove()
    assert instances.get(operators_world["waiting"][0]).definition_id == operators_world["v1"]  # a preview only
    db.session.remove()
