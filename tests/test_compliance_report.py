"""Deadline compliance per region and month: page, chart, CSV and API agree with the case pages (issue 21)."""
import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine

from engine import tasks
from engine.db import db
from handlers.cases import Case
from tests.conftest import deploy_sample
from tests.inbox_support import FreshClient, make_user, open_sample_case, open_task_of, sign_in
from tests.test_api_support import api, api_app, make_token  # noqa: F401  fixtures

ALMATY = ZoneInfo("Asia/Almaty")
REVIEW = {"name": "review", "rule": "working_days(2)", "due_at": "2026-06-17T23:59:59+05:00"}


def recorded(name, met, due="2026-03-05T23:59:59+05:00"):
    return {"name": name, "rule": "working_days(2)", "due_at": due, "met": met}


def filed(region, when, name, deadlines, decided=None, outcome=None, grounds=(), escalated=False):
    with time_machine.travel(when, tick=False):
        case = open_sample_case(region=region, name=name, extra={"deadlines": {"review": REVIEW, **deadlines}})
    row = db.session.get(Case, case.id)
    if decided:
        row.decided_at, row.outcome_code = decided, outcome
        row.outcome = {"code": outcome, "grounds": [{"code": g} for g in grounds]}
    if escalated:
        db.session.execute(sa.update(tasks.HumanTask).where(tasks.HumanTask.instance_id == case.id)
                           .values(escalated=True))
    db.session.commit()
    return case


@pytest.fixture
def world(api_app):
    deploy_sample(api_app)
    march = datetime(2026, 3, 2, 10, 0, tzinfo=ALMATY)  # a Monday
    filed("AST", march, "First", {"police_answer": recorded("police_answer", True),
                                  "decision": recorded("decision", False)},
          decided=datetime(2026, 3, 6, 12, 0, tzinfo=ALMATY), outcome="refused",
          grounds=("quota_exhausted",), escalated=True)
    filed("AST", march, "Second", {"police_answer": recorded("police_answer", False),
                                   "decision": recorded("decision", True)},
          decided=datetime(2026, 3, 4, 12, 0, tzinfo=ALMATY), outcome="issued")
    filed("AST", datetime(2026, 4, 1, 10, 0, tzinfo=ALMATY), "April",
          {"employer_consent": recorded("employer_consent", True)})
    filed("SHY", march, "Shymkent", {"police_answer": recorded("police_answer", True)})
    make_user("erlan", roles=("supervisor",), region="AST")
    make_user("saule", roles=("supervisor",), region="SHY")
    make_user("aigul", region="AST")
    make_user("gulnara", roles=("analyst",), region=None)
    make_user("root", roles=("admin",), region=None)
    api_app.test_client_class = FreshClient
    return api_app


def browser(app, who):
    client = app.test_client()
    sign_in(client, who)
    return client


def test_the_api_gives_met_missed_median_escalations_and_refusals_by_region_and_month(api, world):
    response = api.get("/api/v1/reports/compliance?year=2026", headers=make_token("reports", ["cases:read"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = {(r["region"], r["month"]): r for r in response.get_json()["items"]}
    assert set(rows) == {("AST", "2026-03"), ("AST", "2026-04"), ("SHY", "2026-03")}
    march = rows[("AST", "2026-03")]
    assert march["filed"] == 2 and march["decided"] == 2
    assert march["deadlines"]["police_answer"] == {"met": 1, "missed": 1, "overdue": 0}
    assert march["deadlines"]["decision"] == {"met": 1, "missed": 1, "overdue": 0}
    assert march["median_working_days_to_decision"] == 3.0  # Monday to Friday: 4; to Wednesday: 2
    assert march["escalations"] == 1
    assert march["refusals"] == 1 and march["refusals_by_ground"] == {"quota_exhausted": 1}
    assert rows[("AST", "2026-04")]["deadlines"]["employer_consent"]["met"] == 1


def test_a_region_limited_token_gets_its_region_only_and_another_region_is_403(api, world):
    headers = make_token("ast-reports", ["cases:read"], ["AST"])
    items = api.get("/api/v1/reports/compliance?year=2026", headers=headers).get_json()["items"]
    assert {r["region"] for r in items} == {"AST"}
    assert api.get("/api/v1/reports/compliance?year=2026&region=SHY", headers=headers).status_code == 403
    assert api.get("/api/v1/reports/compliance?year=1999", headers=headers).status_code == 422
    assert api.get("/api/v1/reports/compliance", headers=make_token("p", ["permits:read"])).status_code == 403


def test_the_supervisor_sees_their_regions_figures_a_chart_and_downloads_the_same_as_csv(world):
    client = browser(world, "erlan")
    page = client.get("/reports/compliance?year=2026").get_data(as_text=True)
    assert '<tr data-region="AST" data-month="2026-03">' in page and 'data-region="SHY"' not in page
    assert "<svg" in page and 'class="missed"' in page
    assert "quota" in page.lower()
    other = client.get("/reports/compliance?year=2026&region=SHY").get_data(as_text=True)
    assert 'data-region="SHY"' not in other
    response = client.get("/reports/compliance.csv?year=2026")
    assert response.mimetype == "text/csv"
    lines = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["region"], r["month"]) for r in lines] == [("AST", "2026-03"), ("AST", "2026-04")]
    assert lines[0]["decision_missed"] == "1" and lines[0]["refusals_by_ground"] == "quota_exhausted=1"


def test_the_administrator_sees_every_region(world):
    page = browser(world, "root").get("/reports/compliance?year=2026").get_data(as_text=True)
    assert 'data-region="SHY"' in page and 'data-region="AST"' in page


@pytest.mark.parametrize("who", ["aigul", "gulnara"])
def test_officers_and_analysts_reach_no_compliance_report(world, who):
    client = browser(world, who)
    assert client.get("/reports/compliance").status_code == 404
    assert client.get("/reports/compliance.csv").status_code == 404
