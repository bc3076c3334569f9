"""Deadline compliance per region and month: page, chart, CSV and API agree with the case pages (issue 21)."""
import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine
from SpiffWorkflow.util.task import TaskState

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


def test_reports_read_alone_gives_the_figures_and_no_case_and_without_it_the_answer_is_403(api, world):
    figures = make_token("statistics", ["reports:read"])
    response = api.get("/api/v1/reports/compliance?year=2026", headers=figures)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert {(r["region"], r["month"]) for r in response.get_json()["items"]} == {
        ("AST", "2026-03"), ("AST", "2026-04"), ("SHY", "2026-03")}
    assert api.get("/api/v1/cases", headers=figures).status_code == 403  # the figures, not the cases
    for scopes in (["permits:read"], ["metrics:read"], ["applications:write", "operations:write"]):
        refused = api.get("/api/v1/reports/compliance?year=2026", headers=make_token("-".join(scopes).replace(":", "."), scopes))
        assert refused.status_code == 403, scopes
        assert "reports:read" in refused.get_data(as_text=True)
    operation = api.get("/api/v1/openapi.json").get_json()["paths"]["/reports/compliance"]["get"]
    assert operation["x-scopes"] == ["reports:read", "cases:read"]


def test_the_administrator_can_give_a_client_the_reports_scope(world):
    page = browser(world, "root").get("/admin/clients").get_data(as_text=True)
    assert 'value="reports:read"' in page and "read reports only" in page


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


# --- the report from stored deadlines: equal to the case pages, from an index ----------------

OFFICER = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))
REPORT_DAY = datetime(2026, 3, 20, 12, 0, tzinfo=ALMATY)


def open_record(name, due):
    return {"name": name, "rule": "working_days(2)", "due_at": due}


@pytest.fixture
def every_state(world):
    """Beside the world's met and missed: open past due (overdue), open in time, and cases that
    ended with a deadline open, in time (met) and late (missed)."""
    march = datetime(2026, 3, 3, 10, 0, tzinfo=ALMATY)
    filed("AST", march, "Overdue", {"police_answer": open_record("police_answer", "2026-03-05T23:59:59+05:00")})
    filed("AST", march, "Open", {"decision": open_record("decision", "2026-12-30T23:59:59+05:00")})
    in_time = filed("AST", march, "InTime", {"decision": open_record("decision", "2026-03-10T23:59:59+05:00")})
    late = filed("AST", march, "Late", {"employer_consent": open_record("employer_consent",
                                                                       "2026-03-04T23:59:59+05:00")})
    for case, when in ((in_time, datetime(2026, 3, 6, 9, 0, tzinfo=ALMATY)),
                       (late, datetime(2026, 3, 12, 9, 0, tzinfo=ALMATY))):
        with time_machine.travel(when, tick=False):
            task = open_task_of(case.id)
            tasks.claim(task.id, OFFICER)
            tasks.complete(task.id, OFFICER, {"decision": "approve"})
    return world


def case_page_counts():
    """What the case pages show, counted: (region, month) -> name -> state -> cases."""
    from engine import instances
    from web.inbox import casefile
    counts = {}
    for case in db.session.execute(sa.select(Case)).scalars():
        key = (case.region, case.created_at.astimezone(ALMATY).strftime("%Y-%m"))
        for item in casefile.deadlines(casefile.load(instances.get(case.id))):
            if item["name"] in ("police_answer", "decision", "employer_consent"):
                states = counts.setdefault(key, {}).setdefault(item["name"], {})
                states[item["state"]] = states.get(item["state"], 0) + 1
    return counts


def report_counts(rows):
    return {(r["region"], r["month"]): {name: {s: n for s, n in states.items() if n}
                                        for name, states in r["deadlines"].items() if any(states.values())}
            for r in rows}


def test_the_reports_figures_are_what_the_case_pages_show_in_every_state(every_state):
    from handlers import compliance
    with time_machine.travel(REPORT_DAY, tick=False):
        pages = case_page_counts()
        rows = compliance.report(2026, None)
    shown = {key: {name: {s: n for s, n in states.items() if s in ("met", "missed", "overdue")}
                   for name, states in names.items()} for key, names in pages.items()}
    shown = {key: {name: states for name, states in names.items() if states} for key, names in shown.items()}
    assert report_counts(rows) == shown
    march = pages[("AST", "2026-03")]
    # Every state is in the set: the pages' own words, and the report's counts beside them.
    assert march["police_answer"] == {"met": 1, "missed": 1, "overdue": 1}
    assert march["decision"] == {"met": 2, "missed": 1, "open": 1}
    assert march["employer_consent"] == {"missed": 1}
    assert report_counts(rows)[("AST", "2026-03")] == {
        "police_answer": {"met": 1, "missed": 1, "overdue": 1}, "decision": {"met": 2, "missed": 1},
        "employer_consent": {"missed": 1}}


def test_the_supervisors_page_and_csv_count_the_overdue_deadline(every_state):
    with time_machine.travel(REPORT_DAY, tick=False):
        client = browser(every_state, "erlan")
        lines = list(csv.DictReader(io.StringIO(client.get("/reports/compliance.csv?year=2026").get_data(as_text=True))))
    march = lines[0]
    assert (march["month"], march["police_answer_overdue"], march["decision_met"]) == ("2026-03", "1", "2")


def test_a_deadline_closed_by_a_later_step_moves_from_overdue_to_missed_in_the_same_transaction(world):
    from engine import instances
    from handlers import compliance
    case = filed("SHY", datetime(2026, 3, 3, 10, 0, tzinfo=ALMATY), "Closing",
                 {"police_answer": open_record("police_answer", "2026-03-05T23:59:59+05:00")})
    with time_machine.travel(REPORT_DAY, tick=False):
        before = compliance.report(2026, frozenset({"SHY"}))[0]["deadlines"]["police_answer"]
        assert before == {"met": 1, "missed": 0, "overdue": 1}
        with instances.step(case.id, commit=False) as (_row, workflow):
            for task in instances.all_tasks(workflow, TaskState.READY):
                records = task.data["deadlines"]
                task.data["deadlines"] = {**records, "police_answer": {
                    **records["police_answer"], "met": False, "closed_at": "2026-03-20T07:00:00+00:00"}}
        # The step's own transaction holds the closed deadline: missed, no longer overdue.
        assert compliance.report(2026, frozenset({"SHY"}))[0]["deadlines"]["police_answer"] == {
            "met": 1, "missed": 1, "overdue": 0}
        db.session.rollback()  # the step undone: so is its row
        assert compliance.report(2026, frozenset({"SHY"}))[0]["deadlines"]["police_answer"] == before


def test_the_cli_indexes_the_cases_filed_before_the_table_existed(every_state):
    from handlers import compliance
    with time_machine.travel(REPORT_DAY, tick=False):
        expected = compliance.report(2026, None)
        db.session.execute(sa.delete(compliance.CaseDeadline))
        db.session.commit()
        assert report_counts(compliance.report(2026, None)) == {key: {} for key in report_counts(expected)}
        result = every_state.test_cli_runner().invoke(args=["cases", "index-deadlines", "--batch", "2"])
        assert result.exit_code == 0, result.output
        assert "8 cases indexed" in result.output
        assert compliance.report(2026, None) == expected
        again = every_state.test_cli_runner().invoke(args=["cases", "index-deadlines", "--batch", "0"])
        assert again.exit_code == 2 and "--batch" in again.output


def test_working_days_from_a_running_count_equal_the_calendars_for_every_pair(app):
    from datetime import date, timedelta
    from engine.calendar import current_calendar
    from handlers.compliance import _WorkingDaysBetween
    calendar = current_calendar()
    between = _WorkingDaysBetween(calendar, date(2026, 1, 1))
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(0, 420, 3)]  # New Year, Nauryz, May, a year on
    for a in days[::4]:
        for b in days:
            assert between(a, b) == calendar.working_days_between(a, b), (a, b)
