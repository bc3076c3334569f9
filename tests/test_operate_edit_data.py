"""An operator corrects a case's data before a retry: within the form's rules, audited as a diff
with who and why, personal data masked."""
from __future__ import annotations

import copy

import sqlalchemy as sa
import time_machine

from engine import audit, instances
from engine.db import db
from tests import permit_support as ps
from tests.inbox_support import client, csrf, make_user, sign_in  # noqa: F401  the inbox client fixture
from tests.test_api_support import make_token

FILED = ps.almaty(2026, 3, 20, 10, 0)


def case_stopped_for_2026(app):
    """Only the 2027 quota is loaded; the application asks for a permit from 01.04.2026."""
    ps.deploy_procedures(app, "permit_issue")
    ps.load_reference(app, year=2027)
    with time_machine.travel(FILED, tick=False):
        case_id = ps.file_application().id
    db.session.remove()
    assert instances.get(case_id).status == "incident"
    return case_id


def edits():
    return db.session.execute(sa.select(audit.AuditEvent).filter_by(event="instance_data_edited")).scalars().all()


def test_a_corrected_start_date_is_audited_as_a_diff_and_the_retry_runs_with_it(app):
    case_id = case_stopped_for_2026(app)
    api = app.test_client()
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    application = api.get(f"/api/v1/incidents/{case_id}", headers=headers).get_json()["input"]["application"]
    corrected = copy.deepcopy(application)
    corrected["period"]["start_date"] = "2027-01-15"
    answer = api.post(f"/api/v1/incidents/{case_id}/data-edits", headers=headers,
                      json={"data": {"application": corrected}, "reason": "The applicant confirmed 2027 by phone"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["diff"] == {"application.period.start_date": {"before": "2026-04-01",
                                                                           "after": "2027-01-15"}}
    [event] = edits()
    assert (event.actor, event.details["reason"]) == ("api:ops-console", "The applicant confirmed 2027 by phone")
    corrected["applicant"]["iin"] = ps.make_iin("900515", 3, "0002")
    corrected["documents"][0]["number"] = "FA7654321"
    api.post(f"/api/v1/incidents/{case_id}/data-edits", headers=headers,
             json={"data": {"application": corrected}, "reason": "The passport was renewed"})
    masked = edits()[1].details["diff"]
    assert set(masked) == {"application.applicant.iin", "application.documents"}
    assert ps.APPLICANT_IIN not in str(masked) and "FA7654321" not in str(masked) and "FA1234567" not in str(masked)
    assert masked["application.applicant.iin"]["before"] == "9005******18"
    retried = api.post("/api/v1/incidents/retries", headers=headers, json={"instance_ids": [case_id]})
    assert retried.get_json()["results"][0]["outcome"] == "moved_on"
    assert ps.case_data(case_id)["quota"]["year"] == 2027


def test_a_value_against_the_decision_form_or_a_case_without_incident_is_refused_and_nothing_changes(app):
    case_id = case_stopped_for_2026(app)
    api = app.test_client()
    headers = make_token("ops-console", scopes=["operations:write"], role=None)
    bad = api.post(f"/api/v1/incidents/{case_id}/data-edits", headers=headers,
                   json={"data": {"decision": "approve-anyway"}, "reason": "test"})
    assert bad.status_code == 422 and "data.decision" in bad.get_json()["errors"]
    for body in ({"data": {}, "reason": "x"}, {"data": {"region": "SHY"}}, {"data": {"__x": 1}, "reason": "x"},
                 {"data": {"completed_by": {}}, "reason": "x"}):
        answer = api.post(f"/api/v1/incidents/{case_id}/data-edits", headers=headers, json=body)
        assert answer.status_code == 422, (body, answer.get_json())
    assert edits() == []
    assert ps.case_data(case_id)["region"] == "AST"
    ps.load_reference(app, year=2026)
    api.post("/api/v1/incidents/retries", headers=headers, json={"instance_ids": [case_id]})
    late = api.post(f"/api/v1/incidents/{case_id}/data-edits", headers=headers,
                    json={"data": {"region": "AST"}, "reason": "x"})
    assert late.status_code == 409 and "no incident" in late.get_json()["detail"]


def test_the_cli_and_the_inbox_correct_data_and_an_officer_cannot(app, client):
    case_id = case_stopped_for_2026(app)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["instances", "edit-data", case_id, "--set", 'note="checked by phone"',
                                 "--reason", "operator note", "--actor", "ops"])
    assert result.exit_code == 0 and '"after": "checked by phone"' in result.output
    assert runner.invoke(args=["instances", "edit-data", case_id, "--set", "note=1"]).exit_code == 2  # no reason
    make_user("aigul.officer")
    make_user("erlan.supervisor", roles=("supervisor",))
    sign_in(client, "aigul.officer")
    assert client.post(f"/incidents/{case_id}/data", data={"field": "note", "value": '"x"', "reason": "r",
                                                           "csrf_token": csrf(client)}).status_code == 404
    supervisor = app.test_client()
    sign_in(supervisor, "erlan.supervisor")
    token = csrf(supervisor)
    page = supervisor.post(f"/incidents/{case_id}/data", data={"field": "note", "value": '"second call"',
                                                               "reason": "called again", "csrf_token": token},
                           follow_redirects=True).get_data(as_text=True)
    assert "Changed: note." in page
    refused = supervisor.post(f"/incidents/{case_id}/data", data={"field": "note", "value": "not json",
                                                                  "reason": "r", "csrf_token": token},
                              follow_redirects=True).get_data(as_text=True)
    assert "must be JSON" in refused
    db.session.remove()
    assert ps.case_data(case_id)["note"] == "second call"
    assert [(e.actor, e.details["diff"]["note"]["after"]) for e in edits()] == [
        ("ops", "checked by phone"), ("erlan.supervisor", "second call")]
