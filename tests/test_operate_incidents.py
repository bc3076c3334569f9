"""Operators handle incidents: the likely fix in words, the failed task's input, and retries of
chosen cases or of every case stopped by the same error, each with its own result."""
from __future__ import annotations

import sqlalchemy as sa
import time_machine

from engine import audit, incidents, instances
from engine.db import db
from handlers import quota
from tests import permit_support as ps
from tests.inbox_support import client, csrf, make_user, sign_in  # noqa: F401  the inbox client fixture
from tests.test_api_support import make_token

FILED = ps.almaty(2026, 3, 20, 10, 0)


def file_without_the_quota_year(app, n):
    """`n` applications for 2026 while only the 2025 quota is loaded: each stops at the hold."""
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app, year=2025)
    with time_machine.travel(FILED, tick=False):
        ids = [ps.file_application(ps.application(application_no=f"EGOV-2026-{i:06d}")).id for i in range(n)]
    db.session.remove()
    return ids


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def held_units(case_ids):
    return db.session.execute(sa.select(sa.func.count()).select_from(quota.QuotaUnit).where(
        quota.QuotaUnit.instance_id.in_(case_ids), quota.QuotaUnit.status == quota.HELD)).scalar()


def test_a_missing_quota_year_stops_ten_cases_and_retry_all_with_this_error_moves_them_on(app):
    ids = file_without_the_quota_year(app, 10)
    api = app.test_client()
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    listed = api.get("/api/v1/incidents", headers=headers).get_json()["items"]
    assert sorted(i["instance_id"] for i in listed) == sorted(ids)
    first = listed[0]
    assert first["task"] == "Hold a quota unit" and first["error_type"] == "MissingReferenceData"
    assert "flask reference set-quota AST 2026 UNITS" in first["hint"]
    detail = api.get(f"/api/v1/incidents/{first['instance_id']}", headers=headers).get_json()
    assert detail["input"]["application"]["period"]["start_date"] == "2026-04-01"

    assert cli(app, "reference", "set-quota", "AST", "2026", "20").exit_code == 0
    with time_machine.travel(FILED, tick=False):
        report = api.post("/api/v1/incidents/retries", json={"same_error_as": ids[3]}, headers=headers)
    assert report.status_code == 200, report.get_json()
    results = report.get_json()["results"]
    assert sorted(r["instance_id"] for r in results) == sorted(ids)
    assert {(r["outcome"], r["status"]) for r in results} == {("moved_on", "in_progress")}
    db.session.remove()
    assert [instances.get(i).status for i in ids] == ["in_progress"] * 10
    assert held_units(ids) == 10
    assert api.get("/api/v1/incidents", headers=headers).get_json()["items"] == []
    retried = db.session.execute(sa.select(audit.AuditEvent.actor).filter_by(event="incident_retried")).scalars()
    assert set(retried) == {"api:ops-console"}


def test_a_retry_of_chosen_cases_reports_each_case_and_one_failing_again_does_not_hold_back_the_others(app):
    ids = file_without_the_quota_year(app, 3)
    ps.load_reference(app, quota=1, year=2026)  # room for one case only: the others are refused, not failed
    results = incidents.retry_many([ids[0], "0b5f7a4e-1d2c-4e8b-9a61-2f3c4d5e6f70"], "operator")
    assert [(r.instance_id, r.outcome) for r in results] == [
        (ids[0], "moved_on"), ("0b5f7a4e-1d2c-4e8b-9a61-2f3c4d5e6f70", "refused")]
    assert "no process instance" in results[1].message
    assert instances.get(ids[1]).status == "incident"  # not chosen, not touched


def test_the_cli_shows_the_fix_and_retries_every_case_with_the_same_error(app):
    ids = file_without_the_quota_year(app, 2)
    shown = cli(app, "instances", "incident", ids[0])
    assert shown.exit_code == 0
    assert "hint: Load the 2026 quota of region AST: `flask reference set-quota AST 2026 UNITS`" in shown.output
    assert '"start_date": "2026-04-01"' in shown.output
    still_missing = cli(app, "instances", "retry", "--same-error-as", ids[0])
    assert still_missing.exit_code == 1 and still_missing.output.count(": incident") == 2
    assert cli(app, "reference", "set-quota", "AST", "2026", "5").exit_code == 0
    with time_machine.travel(FILED, tick=False):
        result = cli(app, "instances", "retry", "--same-error-as", ids[0])
    assert result.exit_code == 0, result.output
    assert result.output.count(": in_progress") == 2
    assert cli(app, "instances", "retry").exit_code == 2  # neither ids nor --same-error-as


def test_a_retry_request_naming_neither_or_both_selections_is_refused_and_retries_nothing(app):
    ids = file_without_the_quota_year(app, 1)
    api = app.test_client()
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    for body in ({}, {"instance_ids": ids, "same_error_as": ids[0]}, {"instance_ids": ["not-a-uuid"]}):
        answer = api.post("/api/v1/incidents/retries", json=body, headers=headers)
        assert answer.status_code == 422, body
        assert "instance_ids" in answer.get_data(as_text=True)
    assert instances.get(ids[0]).status == "incident"
    assert db.session.execute(sa.select(audit.AuditEvent).filter_by(event="incident_retried")).first() is None


def test_an_officer_token_without_the_operations_scope_cannot_see_or_retry_incidents(app):
    ids = file_without_the_quota_year(app, 1)
    api = app.test_client()
    officer = make_token("officer-desk", scopes=["tasks:write", "cases:read"], role="officer")
    assert api.get("/api/v1/incidents", headers=officer).status_code == 403
    assert api.post("/api/v1/incidents/retries", json={"instance_ids": ids}, headers=officer).status_code == 403
    other_region = make_token("shy-ops", scopes=["operations:write"], regions=["SHY"], role=None)
    answer = api.post("/api/v1/incidents/retries", json={"instance_ids": ids}, headers=other_region)
    assert answer.get_json()["results"][0]["outcome"] == "refused"
    assert instances.get(ids[0]).status == "incident"


def test_a_supervisor_retries_the_selected_incidents_in_the_inbox_and_sees_each_result(app, client):
    ids = file_without_the_quota_year(app, 3)
    make_user("erlan.supervisor", roles=("supervisor",))
    sign_in(client, "erlan.supervisor")
    page = client.get("/incidents").get_data(as_text=True)
    assert "Likely fix:" in page and "flask reference set-quota AST 2026 UNITS" in page
    assert cli(app, "reference", "set-quota", "AST", "2026", "5").exit_code == 0
    answer = client.post("/incidents/retries", data={"instance_id": ids[:2], "csrf_token": csrf(client)})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "2 of 2 cases moved on." in html
    db.session.remove()
    assert [instances.get(i).status for i in ids] == ["in_progress", "in_progress", "incident"]


def test_an_officer_never_reaches_the_incident_pages_and_the_attempt_is_audited(app, client):
    ids = file_without_the_quota_year(app, 1)
    make_user("aigul.officer")
    sign_in(client, "aigul.officer")
    token = csrf(client)
    assert client.get(f"/incidents/{ids[0]}").status_code == 404
    assert client.post("/incidents/retries", data={"same_error_as": ids[0], "csrf_token": token}).status_code == 404
    db.session.remove()
    assert instances.get(ids[0]).status == "incident"
    refused = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="access_refused",
                                                                       actor="aigul.officer")).scalars().all()
    assert len(refused) >= 2
