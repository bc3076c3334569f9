"""A supervisor's start page: overdue, due today, at risk; workload; many tasks reassigned at once (issue 21)."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine

from engine import audit, tasks
from engine.db import db
from tests.conftest import deploy_sample
from tests.inbox_support import client, make_user, open_sample_case, open_task_of, post, sign_in  # noqa: F401

ALMATY = ZoneInfo("Asia/Almaty")
WEDNESDAY = datetime(2026, 12, 2, 10, 0, tzinfo=ALMATY)
OFFICER = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))


@pytest.fixture
def region(app):
    deploy_sample(app)
    make_user("aigul", region="AST", full_name="Aigul Sarsenova")
    make_user("berik", region="AST", full_name="Berik Omarov")
    make_user("dana", region="SHY")
    make_user("erlan", roles=("supervisor",), region="AST")
    make_user("root", roles=("admin",), region=None)
    return app


def case_due(name, due, region="AST"):
    case = open_sample_case(name=name, due=due, region=region)
    return case, open_task_of(case.id)


def test_the_supervisor_lands_on_overdue_due_today_and_at_risk_tasks_of_the_region(region, client):
    with time_machine.travel(WEDNESDAY, tick=False):
        case_due("Overdue Applicant", "2026-12-01T18:00:00+05:00")
        _, today = case_due("Today Applicant", "2026-12-02T23:59:59+05:00")
        case_due("Thursday Applicant", "2026-12-03T23:59:59+05:00")
        case_due("Friday Applicant", "2026-12-04T23:59:59+05:00")
        case_due("Shymkent Applicant", "2026-12-01T18:00:00+05:00", region="SHY")
        tasks.claim(today.id, OFFICER)
        response = sign_in(client, "erlan")
        assert client.get(response.headers["Location"]).headers["Location"] == "/overview"
        page = client.get("/overview").get_data(as_text=True)
    assert "Overdue Applicant" in page and "Today Applicant" in page and "Thursday Applicant" in page
    assert "Friday Applicant" not in page and "Shymkent Applicant" not in page
    for bucket in ("overdue", "due_today", "at_risk"):
        assert f'<dd id="total-{bucket}">1</dd>' in page
    per_officer = page.split('class="data per-officer"')[1].split("</table>")[0]
    assert "Aigul Sarsenova</th><td>0</td><td>1</td><td>0</td>" in per_officer
    assert "unassigned</th><td>1</td><td>0</td><td>1</td>" in per_officer
    workload = page.split('class="data workload"')[1].split("</table>")[0]
    assert "Aigul Sarsenova</th><td>1</td>" in workload and "Berik Omarov</th><td>0</td>" in workload
    assert "unassigned</th><td>3</td>" in workload  # the Friday task is open too
    assert '<option value="dana"' not in page


def test_a_task_due_on_monday_is_at_risk_on_friday(region, client):
    with time_machine.travel(datetime(2026, 12, 4, 11, 0, tzinfo=ALMATY), tick=False):
        case_due("Monday Applicant", "2026-12-07T23:59:59+05:00")
        case_due("Tuesday Applicant", "2026-12-08T23:59:59+05:00")
        sign_in(client, "erlan")
        page = client.get("/overview").get_data(as_text=True)
    assert "Monday Applicant" in page and "Tuesday Applicant" not in page
    assert '<dd id="total-at_risk">1</dd>' in page


def test_the_supervisor_moves_several_tasks_to_one_officer_at_once(region, client):
    with time_machine.travel(WEDNESDAY, tick=False):
        _, first = case_due("First Applicant", "2026-12-01T18:00:00+05:00")
        _, second = case_due("Second Applicant", "2026-12-02T23:59:59+05:00")
        _, third = case_due("Third Applicant", "2026-12-03T23:59:59+05:00")
        tasks.claim(first.id, OFFICER)
        sign_in(client, "erlan")
        response = post(client, "/overview/reassign", {"task": [first.id, second.id], "to": "berik"}, page="/overview")
        page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 task(s) now with Berik Omarov." in page
    db.session.expire_all()
    assert [tasks.get(t.id).assignee for t in (first, second, third)] == ["berik", "berik", None]
    moved = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="task_reassigned")).scalars().all()
    assert sorted((e.task_id, e.actor, e.details["to"]) for e in moved) == sorted(
        [(first.id, "erlan", "berik"), (second.id, "erlan", "berik")])
    assert {e.details["from"] for e in moved} == {"aigul", None}


def test_a_bulk_reassignment_to_someone_outside_the_region_moves_nothing(region, client):
    _, task = case_due("Some Applicant", "2026-12-01T18:00:00+05:00")
    sign_in(client, "erlan")
    response = post(client, "/overview/reassign", {"task": [task.id], "to": "dana"}, page="/overview")
    assert "Nothing reassigned: dana is not an officer of Astana." in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert tasks.get(task.id).assignee is None


def test_a_bulk_reassignment_naming_another_regions_task_moves_nothing(region, client):
    _, ours = case_due("Our Applicant", "2026-12-01T18:00:00+05:00")
    _, theirs = case_due("Their Applicant", "2026-12-01T18:00:00+05:00", region="SHY")
    sign_in(client, "erlan")
    response = post(client, "/overview/reassign", {"task": [ours.id, theirs.id], "to": "berik"}, page="/overview")
    assert response.status_code == 404 and "Their Applicant" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert tasks.get(ours.id).assignee is None and tasks.get(theirs.id).assignee is None
    assert db.session.execute(sa.select(audit.AuditEvent).filter_by(event="access_refused")).scalars().first()


def test_a_bulk_reassignment_with_no_task_ticked_says_so(region, client):
    sign_in(client, "erlan")
    response = post(client, "/overview/reassign", {"to": "berik"}, page="/overview")
    assert "Nothing reassigned: tick the tasks to move first." in client.get(response.headers["Location"]).get_data(as_text=True)


def test_the_administrator_sees_every_region_and_officers_reach_no_overview(region, client, app):
    case_due("Astana Applicant", "2026-12-01T18:00:00+05:00")
    case_due("Shymkent Applicant", "2026-12-01T18:00:00+05:00", region="SHY")
    with time_machine.travel(WEDNESDAY, tick=False):
        sign_in(client, "root")
        page = client.get("/overview").get_data(as_text=True)
    assert "Astana Applicant" in page and "Shymkent Applicant" in page
    officer = app.test_client()
    sign_in(officer, "aigul")
    assert officer.get("/overview").status_code == 404
    assert post(officer, "/overview/reassign", {"task": [open_task_of(
        open_sample_case(name="X", due="2026-12-01T18:00:00+05:00").id).id], "to": "aigul"}).status_code == 404
