"""The case page: status, outcome and grounds, permit, deadlines, documents, diagram, timeline."""
import json
import re

import pytest

from engine import instances, tasks
from handlers.grounds import make_ground
from tests.conftest import deploy_sample
from tests.inbox_support import client, make_user, open_sample_case, open_task_of, post, sign_in  # noqa: F401

OFFICER = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))


@pytest.fixture
def sample(app):
    deploy_sample(app)
    make_user("aigul", region="AST")
    make_user("dana", region="SHY")
    make_user("root", roles=("admin",), region=None)
    make_user("gulnara", roles=("analyst",), region=None)
    return app


def diagram_states(html):
    found = re.search(r"data-states='([^']*)'", html)
    return json.loads(found.group(1).replace("&#34;", '"'))


def complete(case, data=None):
    task = open_task_of(case.id)
    tasks.claim(task.id, OFFICER)
    tasks.complete(task.id, OFFICER, data or {"decision": "approve"})
    return task


def test_a_waiting_case_shows_its_current_step_on_the_diagram(sample, client):
    case = open_sample_case()
    sign_in(client, "aigul")
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert f"Case {case.application_no}" in html and "In progress" in html
    states = diagram_states(html)
    assert states["current"] == ["review"]
    assert {"start", "collect", "fork", "score_a_task", "join", "route"} <= set(states["completed"])
    assert "end_done" not in states["completed"]
    assert "Current step: Review the request." in html
    assert client.get(f"/cases/{case.id}/diagram.bpmn").get_data(as_text=True).startswith("<?xml")


def test_a_completed_case_shows_the_end_reached_and_its_timeline(sample, client):
    case = open_sample_case()
    complete(case)
    sign_in(client, "aigul")
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    states = diagram_states(html)
    assert "end_done" in states["completed"] and states["current"] == []
    assert "Completed" in html and "The case has reached its end." in html
    timeline = html[html.index('class="timeline"'):]
    for event in ("Case started", "Task taken", "Task completed", "Case completed"):
        assert event in timeline
    assert timeline.index("Case started") < timeline.index("Task taken") < timeline.index("Case completed")
    assert "Decision: Agreed" in timeline  # the verdict's title, not its code


def test_the_deadline_met_by_the_officer_is_marked_met(sample, client):
    case = open_sample_case(due="2999-01-01T23:59:59+05:00")
    complete(case)
    sign_in(client, "aigul")
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    deadlines = html[html.index('id="deadlines-h"'):html.index('id="documents-h"')]
    assert "badge-ok\">met" in deadlines and "2 working days, the filing day not counted" in deadlines


def test_a_deadline_passed_while_the_task_waits_is_overdue(sample, client):
    case = open_sample_case(due="2025-01-10T23:59:59+05:00")
    sign_in(client, "aigul")
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    deadlines = html[html.index('id="deadlines-h"'):html.index('id="documents-h"')]
    assert "overdue" in deadlines and "10.01.2025 23:59" in deadlines


def test_a_refused_case_shows_its_grounds_and_the_motivated_refusal(sample, client):
    grounds = [make_ground("tax_underpaid", "tax.check", "paid 100000 KZT of 207600 KZT due"),
               make_ground("police_objection", "police.answer", "The police objected: <b>entry ban</b>")]
    case = open_sample_case(extra={"outcome": {"code": "refused", "grounds": grounds,
                                               "decided_at": "2026-06-16T10:00:00+00:00",
                                               "decided_by": "aigul"}})
    sign_in(client, "aigul")
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'class="badge outcome-refused">Refused' in html
    assert "The individual income tax prepaid does not cover the permit period requested" in html
    assert "paid 100000 KZT of 207600 KZT due" in html
    assert "&lt;b&gt;entry ban&lt;/b&gt;" in html and "<b>entry ban</b>" not in html
    assert "16.06.2026 15:00" in html  # decided_at in Almaty time
    link = f"/cases/{case.id}/documents/motivated_refusal"
    assert link in html
    document = client.get(link)
    assert document.status_code == 200 and "sandbox" in document.headers["Content-Security-Policy"]
    text = document.get_data(as_text=True)
    assert "9501******23" in text and "950112300123" not in text
    assert "paid 100000 KZT of 207600 KZT due" in text


def test_a_document_stored_by_the_procedure_is_offered_as_it_is(sample, client):
    case = open_sample_case(extra={"refusal_document": {"document": "not_accepted_receipt", "appendix": 3,
                                                        "date": "2026-06-16", "html": "<p>receipt text</p>"}})
    sign_in(client, "aigul")
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Receipt of refusal to accept the documents (appendix 3)" in html and "16.06.2026" in html
    assert client.get(f"/cases/{case.id}/documents/refusal_document").get_data(as_text=True) == "<p>receipt text</p>"
    assert client.get(f"/cases/{case.id}/documents/nothing").status_code == 404


def test_the_permit_and_odd_data_are_shown_without_breaking_the_page(sample, client):
    case = open_sample_case(extra={"permit": {"number": "AST-2026-000001", "valid_from": "2026-07-01",
                                              "valid_to": "2026-12-31"},
                                   "deadlines": {"review": {"due_at": "2026-06-17T23:59:59+05:00"},
                                                 "broken": "not a record", "no_due": {"rule": "x"}},
                                   "outcome": "not a mapping", "checks": ["odd", {"name": "quota", "held": True}],
                                   "police_reply": None, "application": "not a mapping either"})
    sign_in(client, "aigul")
    response = client.get(f"/cases/{case.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "AST-2026-000001" in html and "Regional quota" in html


def test_the_admin_sees_every_region_and_the_analyst_no_case(sample, client):
    case = open_sample_case(region="SHY")
    sign_in(client, "root")
    assert client.get(f"/cases/{case.id}").status_code == 200
    assert case.application_no in client.get(f"/search?q={case.applicant_iin}").get_data(as_text=True)
    post(client, "/sign-out", page="/incidents")
    sign_in(client, "gulnara")
    assert client.get(f"/cases/{case.id}").status_code == 404
    assert client.get(f"/search?q={case.applicant_iin}").status_code == 404


def test_search_finds_a_case_by_number_and_by_iin_never_a_process_without_a_case(sample, client):
    case = open_sample_case(iin="950112300123")
    other = open_sample_case(iin="880101400456", name="Other Applicant")
    bare = instances.start("sample_review", {"subject": "x", "scores": {"a": 1, "b": 1, "c": 1},
                                             "region": "AST"}, business_key="KEY-1")
    sign_in(client, "aigul")
    by_number = client.get(f"/search?q={case.application_no}").get_data(as_text=True)
    assert f"/cases/{case.id}" in by_number and f"/cases/{other.id}" not in by_number
    by_iin = client.get("/search?q=950112300123").get_data(as_text=True)
    assert f"/cases/{case.id}" in by_iin and "Other Applicant" not in by_iin
    # An internal process (no case row) is not a case, whatever its business key.
    by_key = client.get("/search?q=KEY-1").get_data(as_text=True)
    assert f"/cases/{bare.id}" not in by_key and "No case found." in by_key
    assert "No case found." in client.get("/search?q=nothing-like-it").get_data(as_text=True)
