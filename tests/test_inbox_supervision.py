"""Supervisors, incidents and analysts: oversight in one's own region, definitions for analysts."""
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from engine import audit, instances, tasks
from engine.db import db
from tests.conftest import deploy_sample
from tests.inbox_support import client, make_user, open_sample_case, open_task_of, post, sign_in  # noqa: F401

OFFICER = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))
PAST = "2025-01-10T23:59:59+05:00"
FUTURE = "2999-01-01T23:59:59+05:00"


@pytest.fixture
def sample(app):
    deploy_sample(app)
    make_user("aigul", region="AST")
    make_user("berik", region="AST")
    make_user("dana", region="SHY")
    make_user("erlan", roles=("supervisor",), region="AST")
    make_user("saule", roles=("supervisor",), region="SHY")
    make_user("gulnara", roles=("analyst",), region=None)
    make_user("root", roles=("admin",), region=None)
    return app


def reassign(client, task_id, to):
    return post(client, f"/supervision/tasks/{task_id}/reassign", {"to": to}, page="/supervision")


def test_the_supervisor_sees_the_regions_overdue_and_escalated_tasks_only(sample, client):
    overdue = open_sample_case(name="Overdue Applicant", due=PAST)
    escalated = open_sample_case(name="Escalated Applicant", due=FUTURE)
    open_sample_case(name="Calm Applicant", due=FUTURE)
    open_sample_case(name="Shymkent Applicant", region="SHY", due=PAST)
    db.session.execute(sa.update(tasks.HumanTask).where(tasks.HumanTask.instance_id == escalated.id)
                       .values(escalated=True))
    db.session.commit()
    sign_in(client, "erlan")
    html = client.get("/supervision").get_data(as_text=True)
    assert "Overdue Applicant" in html and "Escalated Applicant" in html
    assert "Calm Applicant" not in html and "Shymkent Applicant" not in html
    assert html.index("Overdue Applicant") < html.index("Escalated Applicant")
    assert '<option value="berik"' in html and '<option value="dana"' not in html
    assert client.get(f"/cases/{overdue.id}").status_code == 200


def test_the_supervision_list_comes_in_pages_that_together_hold_each_task_once(sample, client):
    import re
    sample.config["SUPERVISION_PAGE_SIZE"] = 2
    names = [f"Overdue {i}" for i in range(3)] + ["Escalated 0", "Escalated 1"]
    for i in range(3):
        open_sample_case(name=names[i], due=f"2025-01-1{i}T23:59:59+05:00")
    for name, due in (("Escalated 0", FUTURE), ("Escalated 1", None)):
        row = open_sample_case(name=name, **({"due": due} if due else {}))
        db.session.execute(sa.update(tasks.HumanTask).where(tasks.HumanTask.instance_id == row.id)
                           .values(escalated=True, **({} if due else {"due_at": None})))
    db.session.commit()
    sign_in(client, "erlan")
    seen, url, pages = [], "/supervision", 0
    while url:
        html = client.get(url).get_data(as_text=True)
        pages += 1
        seen += [n for n in names if n in html]
        found = re.search(r'href="([^"]+)" rel="next"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == names and pages == 3  # soonest deadline first, the undated escalated task last
    refused = client.get("/supervision?after=not-a-position")
    assert refused.status_code == 400 and "after" in refused.get_data(as_text=True)


def test_a_supervisor_reassigns_a_task_to_an_officer_of_the_region(sample, client):
    case = open_sample_case(due=PAST)
    task = open_task_of(case.id)
    tasks.claim(task.id, OFFICER)
    sign_in(client, "erlan")
    response = reassign(client, task.id, "berik")
    assert "is now with berik" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert tasks.get(task.id).assignee == "berik"
    moved = [e for e in audit.trail(case.id) if e.event == "task_reassigned"]
    assert moved[0].actor == "erlan" and moved[0].details == {"from": "aigul", "to": "berik"}
    reassign(client, task.id, "")
    db.session.expire_all()
    assert tasks.get(task.id).assignee is None


def test_a_task_is_not_reassigned_to_someone_outside_the_region(sample, client):
    case = open_sample_case(due=PAST)
    task = open_task_of(case.id)
    sign_in(client, "erlan")
    for outsider in ("dana", "gulnara", "nobody"):
        response = reassign(client, task.id, outsider)
        assert "Not reassigned" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert tasks.get(task.id).assignee is None


def test_a_supervisor_of_another_region_cannot_reassign_by_form_post(sample, client):
    case = open_sample_case(due=PAST)
    task = open_task_of(case.id)
    sign_in(client, "saule")
    assert "Overdue" not in client.get("/supervision").get_data(as_text=True)
    assert reassign(client, task.id, "dana").status_code == 404
    db.session.expire_all()
    assert tasks.get(task.id).assignee is None


def test_officers_and_analysts_have_no_supervision_pages(sample, client):
    case = open_sample_case(due=PAST)
    task = open_task_of(case.id)
    sign_in(client, "aigul")
    assert client.get("/supervision").status_code == 404
    assert client.get("/incidents").status_code == 404
    assert reassign(client, task.id, "aigul").status_code == 404
    post(client, "/sign-out", page="/inbox")
    sign_in(client, "gulnara")
    assert client.get("/supervision").status_code == 404
    assert post(client, f"/incidents/{case.id}/retry", page="/definitions").status_code == 404


def test_an_incident_is_listed_for_the_regions_supervisor_and_retried(sample, client):
    case = open_sample_case()
    sample.config["SAMPLE_RECORD_FAILS"] = True
    task = open_task_of(case.id)
    tasks.claim(task.id, OFFICER)
    tasks.complete(task.id, OFFICER, {"decision": "approve"})
    assert instances.get(case.id).status == "incident"
    sign_in(client, "saule")
    assert case.application_no not in client.get("/incidents").get_data(as_text=True)
    assert post(client, f"/incidents/{case.id}/retry", page="/incidents").status_code == 404
    post(client, "/sign-out", page="/incidents")
    sign_in(client, "erlan")
    html = client.get("/incidents").get_data(as_text=True)
    assert case.application_no in html and "the records office is closed" in html
    case_page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Incident at “Record the decision”" in case_page
    assert '"incident": ["record"]' in case_page.replace("&#34;", '"')
    again = post(client, f"/incidents/{case.id}/retry", page="/incidents")
    assert "failed again" in client.get(again.headers["Location"]).get_data(as_text=True)
    sample.config["SAMPLE_RECORD_FAILS"] = False
    done = post(client, f"/incidents/{case.id}/retry", {"back": "case"}, page="/incidents")
    assert done.headers["Location"] == f"/cases/{case.id}"
    db.session.expire_all()
    assert instances.get(case.id).status == "completed"
    assert [e.actor for e in audit.trail(case.id) if e.event == "incident_retried"] == ["erlan", "erlan"]


def test_the_analyst_sees_every_version_with_its_cases_and_the_diagram(sample, client):
    from pathlib import Path
    from engine import definitions
    open_sample_case()
    open_sample_case(name="Second")
    changed = Path(__file__).parent / "bpmn" / "sample.bpmn"
    xml = changed.read_text().replace('name="Reviewed"', 'name="Reviewed at last"')
    definitions.deploy("sample.bpmn", xml.encode(), {"review.schema.json": (
        Path(__file__).parent / "bpmn" / "forms" / "review.schema.json").read_bytes()}, sample.config, actor="test")
    sign_in(client, "gulnara")
    html = client.get("/definitions").get_data(as_text=True)
    assert "version 2" in html and "version 1" in html
    rows = html[html.index("version 2"):]
    assert "In progress: 2" in rows
    first = definitions.latest("sample_review")
    page = client.get(f"/definitions/{first.id}").get_data(as_text=True)
    assert "review.schema.json" in page and f"/definitions/{first.id}/diagram.bpmn" in page
    assert "Reviewed at last" in client.get(f"/definitions/{first.id}/diagram.bpmn").get_data(as_text=True)
    assert client.get("/definitions/9999").status_code == 404
    assert client.get("/definitions/" + "9" * 30).status_code == 404


def test_an_officer_has_no_definitions_pages(sample, client):
    sign_in(client, "aigul")
    assert client.get("/definitions").status_code == 404


class _Inputs(HTMLParser):
    """Form controls of a page, and the ids that a <label for> names."""

    def __init__(self):
        super().__init__()
        self.controls, self.labelled = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "label" and attrs.get("for"):
            self.labelled.add(attrs["for"])
        if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden":
            self.controls.append(attrs)


def test_every_input_of_every_page_has_a_label(sample, client):
    from tests.inbox_support import SCRIPT_NAME
    case = open_sample_case(name=SCRIPT_NAME, due=PAST)
    task = open_task_of(case.id)
    tasks.claim(task.id, OFFICER)
    pages = {"aigul": ["/inbox", f"/tasks/{task.id}", f"/cases/{case.id}", "/search?q=x"],
             "erlan": ["/supervision", "/incidents", "/definitions"]}
    for user, paths in pages.items():
        sign_in(client, user)
        for path in paths:
            html = client.get(path).get_data(as_text=True)
            assert SCRIPT_NAME not in html, path
            parser = _Inputs()
            parser.feed(html)
            for control in parser.controls:
                assert control.get("id") in parser.labelled or control.get("aria-label"), (path, control)
        post(client, "/sign-out", page=paths[0])
