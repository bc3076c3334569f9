"""The inbox and the task page: my region's and role's tasks only, claim, the form, complete."""
import html as html_lib
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from engine import audit, instances, tasks
from engine.db import db
from tests.conftest import deploy_sample
from tests.inbox_support import (SCRIPT_NAME, client, make_user, open_sample_case,  # noqa: F401
                                 open_task_of, post, sign_in)
from web.inbox import schema_form

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sample(app):
    deploy_sample(app)
    make_user("aigul", region="AST")
    make_user("berik", region="AST")
    make_user("dana", region="SHY")
    make_user("erlan", roles=("supervisor",), region="AST")
    return app


def claim(client, task_id):
    return post(client, f"/tasks/{task_id}/claim", page="/inbox")


def refusals():
    return list(db.session.execute(sa.select(audit.AuditEvent).filter_by(event="access_refused")).scalars())


def test_the_inbox_lists_my_regions_tasks_soonest_deadline_first(sample, client):
    later = open_sample_case(name="Later Applicant", due="2026-06-20T23:59:59+05:00")
    sooner = open_sample_case(name="Sooner Applicant", due="2026-06-16T23:59:59+05:00")
    open_sample_case(region="SHY", name="Shymkent Applicant")
    sign_in(client, "aigul")
    html = client.get("/inbox").get_data(as_text=True)
    assert html.index("Sooner Applicant") < html.index("Later Applicant")
    assert sooner.application_no in html and later.application_no in html
    assert "Shymkent Applicant" not in html
    assert "Review the request" in html


def test_an_officer_of_another_region_sees_none_of_it(sample, client):
    case = open_sample_case()
    task = open_task_of(case.id)
    sign_in(client, "dana")
    assert case.application_no not in client.get("/inbox").get_data(as_text=True)
    assert client.get(f"/tasks/{task.id}").status_code == 404
    assert client.get(f"/cases/{case.id}").status_code == 404
    assert client.get(f"/cases/{case.id}/diagram.bpmn").status_code == 404
    assert "No case found." in client.get(f"/search?q={case.application_no}").get_data(as_text=True)
    assert "No case found." in client.get(f"/search?q={case.applicant_iin}").get_data(as_text=True)
    assert len(refusals()) >= 3


def test_a_form_post_from_another_region_neither_claims_nor_completes(sample, client):
    case = open_sample_case()
    task = open_task_of(case.id)
    sign_in(client, "dana")
    assert claim(client, task.id).status_code == 404
    assert post(client, f"/tasks/{task.id}", {"decision": "approve"}, page="/inbox").status_code == 404
    assert post(client, f"/tasks/{task.id}/unclaim", page="/inbox").status_code == 404
    db.session.expire_all()
    row = tasks.get(task.id)
    assert row.assignee is None and row.status == "ready"
    assert instances.get(case.id).status == "in_progress"
    assert {e.task_id for e in refusals()} == {task.id}


def test_another_role_in_the_same_region_cannot_see_or_do_the_officers_task(sample, client):
    case = open_sample_case()
    task = open_task_of(case.id)
    sign_in(client, "erlan")  # a supervisor: the task is the officer's
    assert case.application_no not in client.get("/inbox").get_data(as_text=True)
    assert client.get(f"/tasks/{task.id}").status_code == 404
    assert claim(client, task.id).status_code == 404
    assert post(client, f"/tasks/{task.id}", {"decision": "approve"}, page="/inbox").status_code == 404
    db.session.expire_all()
    assert tasks.get(task.id).assignee is None


def test_an_officer_claims_from_the_inbox_and_the_claim_is_audited(sample, client):
    case = open_sample_case()
    task = open_task_of(case.id)
    sign_in(client, "aigul")
    response = claim(client, task.id)
    assert response.headers["Location"] == f"/tasks/{task.id}"
    db.session.expire_all()
    assert tasks.get(task.id).assignee == "aigul"
    assert [e.actor for e in audit.trail(case.id) if e.event == "task_claimed"] == ["aigul"]
    assert "You took the task" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_a_task_claimed_by_a_colleague_cannot_be_taken_or_completed(sample, client):
    case = open_sample_case()
    task = open_task_of(case.id)
    tasks.claim(task.id, tasks.Actor("berik", frozenset({"officer"}), frozenset({"AST"})))
    sign_in(client, "aigul")
    page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "berik is working on this task" in page and 'action="/tasks/' + task.id + '"' not in page
    follow = claim(client, task.id)
    assert "already claimed by berik" in client.get(follow.headers["Location"]).get_data(as_text=True)
    refused = post(client, f"/tasks/{task.id}", {"decision": "approve"}, page="/inbox")
    assert refused.status_code == 403
    assert "only the officer who claimed the task may complete it" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert tasks.get(task.id).status == "ready" and instances.get(case.id).status == "in_progress"


def test_giving_back_a_task_someone_else_holds_is_refused(sample, client):
    case = open_sample_case()
    task = open_task_of(case.id)
    tasks.claim(task.id, tasks.Actor("berik", frozenset({"officer"}), frozenset({"AST"})))
    sign_in(client, "aigul")
    response = post(client, f"/tasks/{task.id}/unclaim", page="/inbox")
    assert "only the officer who claimed the task may give it back" in \
        client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert tasks.get(task.id).assignee == "berik"


def test_an_invalid_form_shows_each_error_next_to_its_field(sample, client):
    case = open_sample_case()
    task = open_task_of(case.id)
    sign_in(client, "aigul")
    claim(client, task.id)
    response = post(client, f"/tasks/{task.id}", {"decision": "reject", "comment": ""}, page="/inbox")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    comment = html[html.index('data-field="comment"'):]
    comment = comment[:comment.index("</div>")]
    assert "this field is required" in comment and 'aria-invalid="true"' in comment
    assert 'value="reject" checked' in html  # what the officer chose is kept
    db.session.expire_all()
    assert tasks.get(task.id).status == "ready"


def test_a_valid_form_completes_the_task_and_returns_to_the_inbox_with_a_confirmation(sample, client):
    case = open_sample_case()
    task = open_task_of(case.id)
    sign_in(client, "aigul")
    claim(client, task.id)
    response = post(client, f"/tasks/{task.id}", {"decision": "approve", "comment": "all in order"},
                    page="/inbox")
    assert response.status_code == 302 and response.headers["Location"] == "/inbox"
    html = client.get("/inbox").get_data(as_text=True)
    assert f"Done: “Review the request” of case {case.application_no} is completed." in html
    db.session.expire_all()
    assert instances.get(case.id).status == "completed"
    done = [e for e in audit.trail(case.id) if e.event == "task_completed"]
    assert done[0].actor == "aigul" and done[0].details["data"] == {"decision": "approve",
                                                                   "comment": "all in order"}


def test_an_applicant_named_like_a_script_is_shown_as_text(sample, client):
    case = open_sample_case(name=SCRIPT_NAME)
    task = open_task_of(case.id)
    sign_in(client, "aigul")
    for path in ("/inbox", f"/tasks/{task.id}", f"/cases/{case.id}", f"/search?q={case.application_no}"):
        html = client.get(path).get_data(as_text=True)
        assert SCRIPT_NAME not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_the_task_page_puts_the_application_beside_the_identity_data(sample, client):
    # The IIN says born 12.01.1995; the application says 13.01.1995.
    case = open_sample_case(extra={"police_reply": {"verdict": "approve", "answered_at": "2026-06-15T10:00:00+00:00"},
                                   "checks": {"tax": {"passed": False, "due_kzt": 207600, "paid_kzt": 100000}}})
    instance = instances.get(case.id)
    task = open_task_of(case.id)
    with instances.step(instance.id, "test") as (_, workflow):
        for t in instances.all_tasks(workflow):
            if t.task_spec.bpmn_id == "review":
                t.data["application"]["applicant"]["birth_date"] = "1995-01-13"
    sign_in(client, "aigul")
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert '<tr class="differs">' in html and "<strong>differs</strong>" in html
    assert "13.01.1995" in html and "12.01.1995" in html
    assert "Answer of the internal affairs body" in html and "Agreed" in html
    assert "207,600" in html and "badge-bad" in html  # the failed check is marked
    assert "17.06.2026 23:59" in html  # the deadline in Almaty time


def test_filters_show_mine_unassigned_and_one_step(sample, client):
    first = open_sample_case(name="First Applicant")
    open_sample_case(name="Second Applicant", due="2026-06-18T23:59:59+05:00")
    sign_in(client, "aigul")
    claim(client, open_task_of(first.id).id)
    mine = client.get("/inbox?scope=mine").get_data(as_text=True)
    assert "First Applicant" in mine and "Second Applicant" not in mine
    unassigned = client.get("/inbox?scope=unassigned").get_data(as_text=True)
    assert "Second Applicant" in unassigned and "First Applicant" not in unassigned
    assert "First Applicant" in client.get("/inbox?step=review&process=sample_review").get_data(as_text=True)
    assert "First Applicant" not in client.get("/inbox?step=other").get_data(as_text=True)


def test_the_inbox_pages_through_long_queues(sample, client):
    sample.config["INBOX_PAGE_SIZE"] = 2
    for day in (15, 16, 17):
        open_sample_case(name=f"Applicant {day}", due=f"2026-06-{day}T23:59:59+05:00")
    sign_in(client, "aigul")
    first = client.get("/inbox").get_data(as_text=True)
    assert "Applicant 15" in first and "Applicant 16" in first and "Applicant 17" not in first
    next_link = html_lib.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))
    second = client.get(next_link).get_data(as_text=True)
    assert "Applicant 17" in second and "Applicant 15" not in second and "Applicant 16" not in second
    assert 'rel="first"' in second and 'rel="next"' not in second and "Page 2" in second
    for odd in ("0", "-3", "x", "9" * 30):
        assert client.get(f"/inbox?page={odd}&scope=nonsense").status_code == 200


def test_an_inbox_page_position_it_did_not_give_is_refused_by_name(sample, client):
    open_sample_case(name="Applicant 15", due="2026-06-15T23:59:59+05:00")
    sign_in(client, "aigul")
    response = client.get("/inbox?after=not-a-cursor")
    assert response.status_code == 400 and "after" in response.get_data(as_text=True)


def test_overdue_and_escalated_tasks_are_marked(sample, client):
    case = open_sample_case(due="2025-01-10T23:59:59+05:00")
    db.session.execute(sa.update(tasks.HumanTask).where(tasks.HumanTask.instance_id == case.id)
                       .values(escalated=True))
    db.session.commit()
    sign_in(client, "aigul")
    html = client.get("/inbox").get_data(as_text=True)
    assert "row-overdue" in html and ">overdue<" in html and ">escalated<" in html


# --- the form drawn from the schema -----------------------------------------------------------

DECISION_SCHEMA = json.loads((ROOT / "processes" / "forms" / "decision.schema.json").read_text()) \
    if (ROOT / "processes" / "forms" / "decision.schema.json").exists() else None


def test_the_sample_form_draws_radio_buttons_and_a_textarea():
    schema = json.loads((ROOT / "tests" / "bpmn" / "forms" / "review.schema.json").read_text())
    fields, _ = schema_form.fields(schema)
    assert [(f.name, f.widget, f.required) for f in fields] == [
        ("decision", "radio", True), ("comment", "textarea", False)]
    assert fields[0].options == [("approve", "Approve"), ("reject", "Reject")]


def test_every_kind_of_property_gets_its_widget_and_its_type_back():
    schema = {"type": "object", "required": ["ok"], "properties": {
        "ok": {"type": "boolean", "title": "All in order"},
        "grounds": {"type": "array", "items": {"type": "string", "enum": ["data_mismatch", "other"]}},
        "months": {"type": "integer"},
        "amount": {"type": "number"},
        "note": {"type": "string", "maxLength": 50},
        "long_note": {"type": "string", "format": "textarea"},
        "valid_from": {"type": "string", "format": "date"},
        "region": {"type": "string", "enum": sorted("ABCDEFGH")},
        "who": {"type": "string", "oneOf": [{"const": "police", "title": "The police"},
                                            {"const": "employer", "title": "The employer"}]},
        "employer": {"type": "object", "properties": {"name": {"type": "string"}}},
        "lines": {"type": "array", "items": {"type": "string"}},
    }}
    fields, _ = schema_form.fields(schema)
    assert {f.name: f.widget for f in fields} == {
        "ok": "checkbox", "grounds": "checkboxes", "months": "number", "amount": "number",
        "note": "text", "long_note": "textarea", "valid_from": "date", "region": "select",
        "who": "radio", "employer": "fieldset", "lines": "textarea"}
    grounds = next(f for f in fields if f.name == "grounds")
    assert grounds.options[0] == ("data_mismatch", "The application does not match the identity "
                                  "document or the data received at intake")
    form = MultiDict([("ok", "true"), ("grounds", "data_mismatch"), ("grounds", "other"),
                      ("months", "6"), ("amount", "1.5"), ("note", ""), ("valid_from", "2026-07-01"),
                      ("who", "police"), ("employer.name", "Ivanov"), ("lines", "a\n\nb\n"),
                      ("region", "C")])
    assert schema_form.parse(schema, form) == {
        "ok": True, "grounds": ["data_mismatch", "other"], "months": 6, "amount": 1.5,
        "valid_from": "2026-07-01", "who": "police", "employer": {"name": "Ivanov"},
        "lines": ["a", "b"], "region": "C"}
    assert schema_form.parse(schema, MultiDict([("months", "six")]))["months"] == "six"
    assert schema_form.parse(schema, MultiDict())["ok"] is False


def test_errors_find_their_field_and_the_rest_go_to_the_top():
    schema = {"type": "object", "properties": {"grounds": {"type": "array", "items": {"enum": ["a"]}},
                                               "employer": {"type": "object", "properties": {
                                                   "name": {"type": "string"}}}}}
    fields, rest = schema_form.fields(schema, {}, {"grounds.0": ["bad"], "employer.name": ["empty"],
                                                   "": ["whole form"], "unknown": ["odd"]})
    by_name = {f.name: f for f in fields}
    assert by_name["grounds"].errors == ["bad"]
    assert by_name["employer"].children[0].errors == ["empty"]
    assert rest == ["whole form", "unknown: odd"]


@pytest.mark.skipif(DECISION_SCHEMA is None, reason="processes/forms/decision.schema.json not written yet")
def test_the_permit_decision_form_has_a_checkbox_radio_buttons_and_labelled_grounds():
    fields, _ = schema_form.fields(DECISION_SCHEMA)
    by_name = {f.name: f for f in fields}
    assert by_name["data_matches"].widget == "checkbox"
    assert by_name["decision"].widget == "radio"
    assert by_name["decision"].options == [("issue", "Issue the permit"), ("refuse", "Refuse")]
    assert by_name["grounds"].widget == "checkboxes"
    assert by_name["grounds"].options[0] == ("data_mismatch", "The application does not match the identity data")
    assert by_name["comment"].widget == "textarea"
