"""Every list a page shows is read through an index in the order it pages (SQLite's plans).

A list that sorts or scans a whole table costs more each year the service runs; these tests
read the plan of each SELECT the list pages run and fail on a full scan of a growing table or a
sort of its rows. SQLite only: its planner without statistics chooses by the query's shape,
so the plan here is the plan at any size (PostgreSQL's depends on its statistics).
"""
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from engine.db import db
from tests.conftest import IS_POSTGRES
from tests.test_api_support import APPLICANT_IIN, api, api_app, make_token, stub, submit  # noqa: F401  fixtures

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="reads SQLite's query plans")

GROWING = ("permit_case", "process_instance", "human_task", "audit_event", "timer", "job")


@contextmanager
def selects(tables=GROWING):
    seen = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and any(t in statement for t in tables):
            seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", remember)


def bad_steps(statement, parameters) -> list[str]:
    raw = db.engine.raw_connection()
    try:
        plan = [row[3] for row in raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, parameters)]
    finally:
        raw.close()
    return [step for step in plan
            if "TEMP B-TREE" in step
            or any(step.startswith(f"SCAN {t}") and "INDEX" not in step for t in GROWING)]


LISTS = [{}, {"region": "AST"}]
for _key, _value in [("kind", "extension"), ("outcome", "refused"), ("status", "incident"),
                     ("status", "in_progress"), ("status", "completed"), ("applicant_iin", APPLICANT_IIN)]:
    LISTS += [{_key: _value}, {_key: _value, "region": "AST"}]


@pytest.mark.parametrize("query", LISTS, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()) or "all")
def test_every_case_list_filter_walks_an_index_in_page_order(api, stub, query):
    headers = make_token()
    submit(api, headers, application_no="PLAN-1")
    submit(api, headers, application_no="PLAN-2")
    def page(**extra):
        if "applicant_iin" in query:  # personal data: filtered by a posted body only
            return api.post("/api/v1/cases/search", headers=headers, json={"limit": 1, **query, **extra})
        return api.get("/api/v1/cases", headers=headers, query_string={"limit": 1, **query, **extra})

    with selects() as seen:
        first = page()
        assert first.status_code == 200, first.get_json()
        cursor = first.get_json()["next_cursor"]
        if cursor:  # the next page too: its keyset condition must not lose the index
            assert page(cursor=cursor).status_code == 200
    assert seen
    for statement, parameters in seen:
        assert bad_steps(statement, parameters) == [], statement


def test_the_task_queue_and_its_next_page_walk_the_queue_index(api, stub):
    headers = make_token(regions=["AST"], assignee="aigul")
    submit(api, headers)
    with selects() as seen:
        assert api.get("/api/v1/tasks", headers=headers).status_code == 200
    queue = [s for s in seen if "FROM human_task" in s[0]]
    assert queue
    for statement, parameters in queue:
        assert bad_steps(statement, parameters) == [], statement


def test_due_timers_and_jobs_are_found_by_their_due_index(api_app):
    from datetime import timedelta

    from engine import jobs, timers
    with selects() as seen:
        timers.due(100)
        jobs.due(100)
        timers.claim_due(100, "sweeper", timedelta(seconds=60))
        jobs.claim(100, "worker")
    assert len(seen) == 4
    for statement, parameters in seen:
        assert bad_steps(statement, parameters) == [], statement


def test_the_inbox_and_supervision_pages_walk_the_task_indexes(app):
    from tests.conftest import deploy_sample
    from tests.inbox_support import FreshClient, make_user, open_sample_case, sign_in
    deploy_sample(app)
    make_user("aigul", region="AST")
    make_user("erlan", roles=("supervisor",), region="AST")
    open_sample_case(name="Dated", due="2025-01-10T23:59:59+05:00", number="PLAN-DATED")
    open_sample_case(name="Dated again", due="2025-01-11T23:59:59+05:00", number="PLAN-DATED-2")
    open_sample_case(name="Undated", due=None, number="PLAN-UNDATED")
    app.test_client_class = FreshClient
    officer, supervisor = app.test_client(), app.test_client()
    sign_in(officer, "aigul")
    sign_in(supervisor, "erlan")
    with selects() as seen:
        assert officer.get("/inbox").status_code == 200
        assert supervisor.get("/supervision").status_code == 200
    task_reads = [s for s in seen if "FROM human_task" in s[0]]
    assert len(task_reads) >= 4  # the queue's two walks, supervision's two
    for statement, parameters in seen:
        assert bad_steps(statement, parameters) == [], statement
    make_user("nurlan", roles=("admin",), region=None)  # supervision of every region: no region to walk by
    admin = app.test_client()
    sign_in(admin, "nurlan")
    with selects() as seen:
        page = admin.get("/supervision")
        assert page.status_code == 200 and "Dated" in page.get_data(as_text=True)
    assert [s for s in seen if "FROM human_task" in s[0]]
    for statement, parameters in seen:
        assert bad_steps(statement, parameters) == [], statement
    with selects(("calendar_override",)) as calendar_reads:
        page = officer.get("/inbox").get_data(as_text=True)
        assert "Dated" in page and "Dated again" in page
    assert len(calendar_reads) == 1  # one read of the day transfers per page, not one per row


def test_the_compliance_report_counts_deadlines_from_their_index_and_cases_from_theirs(api_app):
    """The report's SELECTs: the deadline counts read only the (region, filed month) index, in
    its order (no sort); the case figures walk the cases' (region, created_at) index."""
    from handlers import compliance
    from tests.conftest import deploy_sample
    from tests.inbox_support import open_sample_case
    deploy_sample(api_app)
    for region in ("AST", "SHY"):
        open_sample_case(region=region, name=f"Plan {region}", extra={"deadlines": {
            "decision": {"name": "decision", "rule": "working_days(2)", "due_at": "2020-01-01T23:59:59+05:00"}}})
    year = int(db.session.execute(sa.select(compliance.CaseDeadline.filed_month)).scalars().first()[:4])
    plans = {}
    for regions, region in ((None, None), (frozenset({"AST"}), None), (None, "SHY")):
        with selects(GROWING + ("case_deadline",)) as seen:
            rows = compliance.report(year, regions, region)
        assert rows and all(row["deadlines"]["decision"]["overdue"] == 1 for row in rows)
        for statement, parameters in seen:
            raw = db.engine.raw_connection()
            try:
                plan = [row[3] for row in raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, parameters)]
            finally:
                raw.close()
            plans[statement] = plan
            assert bad_steps(statement, parameters) == [], (statement, plan)
    deadline_plans = [plan for statement, plan in plans.items() if "FROM case_deadline" in statement]
    assert deadline_plans
    for plan in deadline_plans:
        assert any("USING COVERING INDEX ix_case_deadline_region_month" in step for step in plan), plan
        assert not any(step.startswith("SCAN case_deadline") or "TEMP B-TREE" in step for step in plan), plan
    case_plans = [plan for statement, plan in plans.items() if "FROM permit_case" in statement]
    assert case_plans and all(any(step.startswith("SEARCH permit_case USING INDEX ix_case_region_")
                                  and "created_at>?" in step for step in plan) for plan in case_plans), case_plans


def test_the_case_search_is_driven_by_the_name_number_or_task_index_never_a_region_walk(app):
    """A name is found through case_name_token's token range, a number through its unique
    column, an officer or overdue cases through the task indexes; the case rows are then read
    by their key. Only the few matched rows are sorted (TEMP B-TREE FOR ORDER BY/DISTINCT of
    the matches); no step scans or walks a growing table, nor a region's every case."""
    from tests.conftest import deploy_sample
    from tests.inbox_support import FreshClient, make_user, open_sample_case, post, sign_in
    deploy_sample(app)
    make_user("aigul", region="AST")
    open_sample_case(name="Каримов Рустам", number="PLAN-NAME-1")
    open_sample_case(name="Karimova Aigerim", number="PLAN-NAME-2", iin="880101400456")
    app.test_client_class = FreshClient
    officer = app.test_client()
    sign_in(officer, "aigul")
    searches = [({"q": "karimov"}, "case_name_token USING COVERING INDEX"),
                ({"q": "kari rus", "kind": "issue", "filed_from": "2026-01-01"}, "case_name_token USING COVERING INDEX"),
                ({"q": "PLAN-NAME-1"}, "sqlite_autoindex_permit_case_2 (application_no=?)"),
                ({"q": "950112300123"}, "ix_case_applicant_created (applicant_iin=?)"),
                ({"officer": "aigul"}, "human_task USING INDEX ix_human_task_assignee (assignee=?)"),
                ({"overdue": "1", "status": "in_progress"}, "human_task USING INDEX")]
    for fields, driver in searches:
        with selects(GROWING + ("case_name_token",)) as seen:
            response = post(officer, "/search", fields)
            assert response.status_code == 200, response.get_data(as_text=True)
        reads = [s for s in seen if "FROM permit_case" in s[0] or "permit_case" in s[0]]
        assert reads, fields
        plans = []
        for statement, parameters in reads:
            raw = db.engine.raw_connection()
            try:
                plan = [row[3] for row in raw.cursor().execute("EXPLAIN QUERY PLAN " + statement, parameters)]
            finally:
                raw.close()
            plans.append(plan)
            walks = [step for step in plan
                     if (step.startswith("SCAN ") and not step.startswith("SCAN matched"))
                     or "(region=?)" in step or "ix_case_created" in step]
            assert walks == [], (fields, plan)
        assert any(driver in step for plan in plans for step in plan), (fields, plans)


@pytest.mark.parametrize("sort", ["due", "-due", "created", "-created", "step", "-step", "case", "-case"])
def test_every_inbox_sort_its_totals_and_its_pages_walk_an_index(app, sort):
    import html as html_lib
    import re

    from tests.conftest import deploy_sample
    from tests.inbox_support import FreshClient, make_user, open_sample_case, sign_in
    deploy_sample(app)
    app.config["INBOX_PAGE_SIZE"] = 1
    make_user("aigul", region="AST")
    open_sample_case(name="Dated", due="2025-01-10T23:59:59+05:00", number="PLAN-DATED")
    open_sample_case(name="Undated", due=None, number="PLAN-UNDATED")
    open_sample_case(name="Dated again", due="2025-01-11T23:59:59+05:00", number="PLAN-DATED-2")
    app.test_client_class = FreshClient
    officer = app.test_client()
    sign_in(officer, "aigul")
    with selects() as seen:
        first = officer.get(f"/inbox/rows?sort={sort}").get_data(as_text=True)
        second = officer.get(html_lib.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1)))
        assert second.status_code == 200
        back = re.search(r'href="([^"]+)" rel="prev"', second.get_data(as_text=True)).group(1)
        assert officer.get(html_lib.unescape(back)).status_code == 200
        assert officer.get(f"/inbox/rows?sort={sort}&last=1").status_code == 200
    task_reads = [s for s in seen if "FROM human_task" in s[0]]
    assert any("count(" in s[0] for s in task_reads) and any("LIMIT" in s[0] for s in task_reads)
    for statement, parameters in task_reads:
        assert bad_steps(statement, parameters) == [], statement
