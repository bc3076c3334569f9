"""An operator cancels a case with a reason: everything open closes, a held quota unit is freed,
the outcome is `cancelled`, and the cancellation is audited."""
from __future__ import annotations

import sqlalchemy as sa
import time_machine

from engine import audit, instances, jobs, messages, tasks, timers
from engine.db import db
from handlers import cases, quota
from tests import permit_support as ps
from tests.inbox_support import client, csrf, make_user, sign_in  # noqa: F401  the inbox client fixture
from tests.test_api_support import make_token

FILED = ps.almaty(2026, 3, 20, 10, 0)


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def count(model, **where):
    return db.session.execute(sa.select(sa.func.count()).select_from(model).filter_by(**where)).scalar()


def case_at_the_decision(app, number="EGOV-2026-000001"):
    with time_machine.travel(FILED, tick=False):
        case_id = ps.file_application(ps.application(application_no=number)).id
        ps.sweep(app)  # the simulated police agree
    assert ps.open_task(case_id) is not None
    return case_id


def test_a_cancelled_case_frees_its_quota_unit_and_closes_its_task(app):
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app, quota=1)
    case_id = case_at_the_decision(app)
    assert quota.usage("AST", 2026)["used"] == 1
    decide_task_id = ps.open_task(case_id).id
    api = app.test_client()
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    answer = api.post(f"/api/v1/cases/{case_id}/cancellation", headers=headers,
                      json={"reason": "Filed twice; the applicant keeps the other application."})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["status"] == "completed" and body["outcome"]["code"] == "cancelled"
    db.session.remove()
    assert quota.usage("AST", 2026)["used"] == 0
    assert tasks.get(decide_task_id).status == tasks.CANCELLED and ps.open_task(case_id) is None
    assert instances.get(case_id).status == instances.TERMINATED
    assert count(timers.Timer, instance_id=case_id) == 0
    assert count(messages.MessageSubscription, instance_id=case_id) == 0
    event = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="case_cancelled")).scalar_one()
    assert event.actor == "api:ops-console" and event.details["quota_unit_released"] is True
    assert event.details["reason"].startswith("Filed twice")
    # A second request is safe; the freed unit serves the next applicant.
    assert api.post(f"/api/v1/cases/{case_id}/cancellation", headers=headers,
                    json={"reason": "again"}).status_code == 200
    next_case = case_at_the_decision(app, "EGOV-2026-000002")
    assert quota.usage("AST", 2026)["used"] == 1 and cases.get(next_case).outcome_code is None


def test_a_case_waiting_for_the_police_is_cancelled_from_the_cli_with_its_jobs_and_subscriptions(app):
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app)
    with time_machine.travel(FILED, tick=False):
        case_id = ps.file_application(worker=False).id
    assert count(jobs.Job, instance_id=case_id) == 1
    assert cli(app, "cases", "cancel", case_id).exit_code != 0  # the reason is required
    result = cli(app, "cases", "cancel", case_id, "--reason", "Opened by a test of the portal", "--actor", "ops")
    assert result.exit_code == 0 and f"{case_id}: cancelled" in result.output
    db.session.remove()
    assert count(jobs.Job, instance_id=case_id) == 0
    assert count(messages.MessageSubscription, instance_id=case_id) == 0
    assert cases.get(case_id).outcome_code == "cancelled"
    ps.run_worker()  # nothing is left for a worker to run on the cancelled case
    assert instances.get(case_id).status == instances.TERMINATED


def test_a_cancellation_without_a_reason_or_of_a_decided_case_is_refused_and_changes_nothing(app):
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app)
    case_id = case_at_the_decision(app)
    api = app.test_client()
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    for body in ({}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "ok", "extra": 1}):
        answer = api.post(f"/api/v1/cases/{case_id}/cancellation", headers=headers, json=body)
        assert answer.status_code == 422, body
    assert "reason" in api.post(f"/api/v1/cases/{case_id}/cancellation", headers=headers,
                                json={}).get_data(as_text=True)
    officer = make_token("desk", scopes=["cases:read", "tasks:write", "applications:write"], role="officer")
    assert api.post(f"/api/v1/cases/{case_id}/cancellation", headers=officer,
                    json={"reason": "no"}).status_code == 403
    db.session.remove()
    assert cases.get(case_id).outcome_code is None and ps.open_task(case_id) is not None
    ps.decide(case_id, ps.ISSUE)
    db.session.remove()
    answer = api.post(f"/api/v1/cases/{case_id}/cancellation", headers=headers, json={"reason": "late"})
    assert answer.status_code == 409 and "already decided (issued)" in answer.get_json()["detail"]


def test_a_supervisor_cancels_a_case_in_incident_from_its_incident_page_and_an_officer_cannot(app, client):
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app, year=2025)  # no 2026 quota: the case stops at the hold
    with time_machine.travel(FILED, tick=False):
        case_id = ps.file_application().id
    make_user("aigul.officer")
    make_user("erlan.supervisor", roles=("supervisor",))
    sign_in(client, "aigul.officer")
    assert client.post(f"/cases/{case_id}/cancel", data={"reason": "no", "csrf_token": csrf(client)}).status_code == 404
    supervisor = app.test_client()
    sign_in(supervisor, "erlan.supervisor")
    page = supervisor.get(f"/incidents/{case_id}").get_data(as_text=True)
    assert "Cancel the case" in page and "flask reference set-quota AST 2026 UNITS" in page
    token = csrf(supervisor)
    refused = supervisor.post(f"/cases/{case_id}/cancel", data={"reason": " ", "csrf_token": token,
                                                                "back": "incident"}, follow_redirects=True)
    assert "give the reason" in refused.get_data(as_text=True)
    db.session.remove()
    assert cases.get(case_id).outcome_code is None
    done = supervisor.post(f"/cases/{case_id}/cancel", data={"reason": "The applicant asked by phone",
                                                             "csrf_token": token}, follow_redirects=True)
    assert "The case is cancelled" in done.get_data(as_text=True)
    db.session.remove()
    assert cases.get(case_id).outcome_code == "cancelled"
    assert instances.get(case_id).status == instances.TERMINATED
    actors = db.session.execute(sa.select(audit.AuditEvent.actor).filter_by(event="case_cancelled")).scalars().all()
    assert actors == ["erlan.supervisor"]
