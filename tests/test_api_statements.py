"""How many SQL statements each API call runs: the counts may fall, never creep back up.

Each bound is what the call needs today (authentication, the rows it reads, the step it writes);
a change that adds a query per call, or one per row, fails here before it slows the service.
"""
from contextlib import contextmanager

import sqlalchemy as sa

from engine.db import db
from tests.test_api_support import api, api_app, make_token, stub, submit  # noqa: F401  fixtures
from tests.test_api_tasks import _case_waiting_for_decision, _officer

# The most statements each call may run (SAVEPOINT/RELEASE included; BEGIN/COMMIT are not statements).
# A step that computes or closes a statutory deadline writes its row for the compliance report
# (handlers/compliance.py): one INSERT at filing, one UPDATE when the decision closes it.
BOUNDS = {
    "POST /applications": 18,  # the case row, its name words (one INSERT: the name search), the instance...
    "GET /cases/{id}": 6,
    "GET /cases": 2,
    "GET /tasks": 3,
    "POST /tasks/{id}/claim": 5,
    "POST /tasks/{id}/complete": 15,
}


@contextmanager
def counted():
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def test_each_api_call_runs_no_more_statements_than_it_needs(api, stub):
    headers = make_token()
    _case_waiting_for_decision(api, headers, application_no="EGOV-S-0")  # warms the caches
    from engine import state_dictionary
    # ...and the compression dictionary's look-up, which a finishing step makes once per process
    # every 5 minutes (state_dictionary.NONE_SECONDS) while the process has none.
    for process_id in db.session.execute(sa.text("SELECT DISTINCT process_id FROM process_definition")).scalars():
        state_dictionary.for_process(process_id)
    db.session.rollback()
    officer = _officer()
    found = {}
    with counted() as seen:
        case_id = submit(api, headers, application_no="EGOV-S-1").get_json()["case_id"]
    found["POST /applications"] = len(seen)
    with counted() as seen:
        assert api.get(f"/api/v1/cases/{case_id}", headers=headers).status_code == 200
    found["GET /cases/{id}"] = len(seen)
    with counted() as seen:
        assert api.get("/api/v1/cases", headers=headers, query_string={"limit": 10}).status_code == 200
    found["GET /cases"] = len(seen)
    with counted() as seen:
        task_id = api.get("/api/v1/tasks", headers=officer).get_json()["items"][0]["id"]
    found["GET /tasks"] = len(seen)
    with counted() as seen:
        assert api.post(f"/api/v1/tasks/{task_id}/claim", headers=officer).status_code == 200
    found["POST /tasks/{id}/claim"] = len(seen)
    with counted() as seen:
        done = api.post(f"/api/v1/tasks/{task_id}/complete", headers=officer, json={"data": {"outcome": "issued"}})
        assert done.status_code == 200, done.get_json()
    found["POST /tasks/{id}/complete"] = len(seen)
    bounds = dict(BOUNDS)
    if api.application.config["WORKFLOW_CACHE_SIZE"] == 0:
        # No live workflow kept between steps (CI's PostgreSQL pass): the indexes that compare
        # the step's result with what they last wrote (message subscriptions, the compliance
        # report's deadlines) remember it on the live workflow; restored afresh, each reads its
        # rows back: two statements more.
        bounds["POST /tasks/{id}/complete"] += 2
    over = {call: (n, bounds[call]) for call, n in found.items() if n > bounds[call]}
    assert over == {}, f"statements (run, bound): {over}; all: {found}"
