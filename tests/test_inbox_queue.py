"""The inbox for an 8-hour day (issue 21): totals and real pages, sortable columns, saved filters,
the list that refreshes itself, the next task after a completion, and the permit it issued."""
import html as html_lib
import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
import time_machine

from engine import instances, tasks
from engine.db import db
from tests.conftest import deploy_sample
from tests.inbox_support import FreshClient, client, make_user, open_sample_case, open_task_of, post, sign_in  # noqa: F401
from web.inbox.saved_filters import SavedFilter


@pytest.fixture
def sample(app):
    deploy_sample(app)
    make_user("aigul", region="AST")
    make_user("berik", region="AST")
    make_user("dana", region="SHY")
    make_user("erlan", roles=("supervisor",), region="AST")
    make_user("asel", roles=("analyst",), region=None)
    app.test_client_class = FreshClient
    return app


def opened(number, due, at, region="AST"):
    """A sample case received at `at` (hour of 1 June 2026, UTC), its task due on `due` (a June day)."""
    with time_machine.travel(datetime(2026, 6, 1, at, tzinfo=timezone.utc), tick=False):
        return open_sample_case(region=region, name=f"Applicant {number}", number=number,
                                due=f"2026-06-{due:02d}T23:59:59+05:00" if due else None)


def numbers(html):
    """The case numbers of the list's rows, top to bottom."""
    return re.findall(r'<td data-label="Case"><a href="[^"]+">([^<]+)</a>', html)


def link(html, rel):
    found = re.search(rf'href="([^"]+)" rel="{rel}"', html)
    return html_lib.unescape(found.group(1)) if found else None


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


# --- totals and pages -----------------------------------------------------------------------

def test_the_total_and_page_k_of_m_with_next_previous_first_and_last(sample, client):
    sample.config["INBOX_PAGE_SIZE"] = 2
    for i, due in enumerate((15, 16, 17, 18, 19)):
        opened(f"Q-{due}", due, at=i)
    opened("Q-SHY", 14, at=9, region="SHY")  # another region: neither listed nor counted
    sign_in(client, "aigul")
    first = page(client, "/inbox")
    assert "5 tasks" in first and "Page 1 of 3" in first
    assert numbers(first) == ["Q-15", "Q-16"]
    assert link(first, "prev") is None and link(first, "first") is None
    second = page(client, link(first, "next"))
    assert numbers(second) == ["Q-17", "Q-18"] and "Page 2 of 3" in second
    third = page(client, link(second, "next"))
    assert numbers(third) == ["Q-19"] and "Page 3 of 3" in third and link(third, "next") is None
    back = page(client, link(third, "prev"))
    assert numbers(back) == ["Q-17", "Q-18"] and "Page 2 of 3" in back
    assert numbers(page(client, link(back, "prev"))) == ["Q-15", "Q-16"]
    last = page(client, link(first, "last"))
    assert numbers(last) == ["Q-18", "Q-19"] and "Page 2 of 2" not in last and "Page 3 of 3" in last
    assert numbers(page(client, link(last, "first"))) == ["Q-15", "Q-16"]


def test_a_filtered_queue_counts_only_what_it_shows(sample, client):
    opened("Q-1", 15, at=0)
    opened("Q-2", 16, at=1)
    opened("Q-3", 17, at=2)
    tasks.claim(_task_of("Q-2").id, tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"})))
    sign_in(client, "aigul")
    assert "1 task" in page(client, "/inbox?scope=mine") and numbers(page(client, "/inbox?scope=mine")) == ["Q-2"]
    unassigned = page(client, "/inbox?scope=unassigned")
    assert "2 tasks" in unassigned and numbers(unassigned) == ["Q-1", "Q-3"]
    assert "0 tasks" in page(client, "/inbox?step=no_such_step")


def _task_of(number):
    from handlers.cases import Case
    case = db.session.execute(sa.select(Case).filter_by(application_no=number)).scalar_one()
    return open_task_of(case.id)


def test_a_page_position_of_another_order_or_both_directions_is_refused_by_name(sample, client):
    sample.config["INBOX_PAGE_SIZE"] = 1
    opened("Q-1", 15, at=0)
    opened("Q-2", 16, at=1)
    sign_in(client, "aigul")
    next_link = link(page(client, "/inbox"), "next")
    cursor = re.search(r"after=([^&]+)", next_link).group(1)
    other = client.get(f"/inbox?sort=case&after={cursor}")
    assert other.status_code == 400 and "after: not a page position this inbox gave" in other.get_data(as_text=True)
    both = client.get(f"/inbox?after={cursor}&before={cursor}")
    assert both.status_code == 400 and "before: give either" in both.get_data(as_text=True)
    assert client.get("/inbox/rows?before=garbage").status_code == 400


# --- sortable columns -----------------------------------------------------------------------

@pytest.fixture
def three(sample):
    """Received B, then C, then A; due C, then A, then B; a step name sorting first on C."""
    opened("Q-B", 20, at=0)
    opened("Q-C", 15, at=1)
    opened("Q-A", 17, at=2)
    db.session.execute(sa.update(tasks.HumanTask).where(tasks.HumanTask.id == _task_of("Q-C").id)
                       .values(name="Check the documents"))
    db.session.commit()
    return sample


@pytest.mark.parametrize("sort, expected", [
    ("", ["Q-C", "Q-A", "Q-B"]), ("due", ["Q-C", "Q-A", "Q-B"]), ("-due", ["Q-B", "Q-A", "Q-C"]),
    ("created", ["Q-B", "Q-C", "Q-A"]), ("-created", ["Q-A", "Q-C", "Q-B"]),
    ("case", ["Q-A", "Q-B", "Q-C"]), ("-case", ["Q-C", "Q-B", "Q-A"]),
    ("step", ["Q-C", "Q-B", "Q-A"]), ("-step", ["Q-A", "Q-B", "Q-C"]),
])
def test_each_column_sorts_and_a_second_click_reverses(three, client, sort, expected):
    sign_in(client, "aigul")
    html = page(client, f"/inbox?sort={sort}")
    assert numbers(html) == expected
    column = {"": "Deadline", "due": "Deadline", "created": "Received", "case": "Case", "step": "Step"}[sort.lstrip("-")]
    header = re.search(rf'<th scope="col" aria-sort="(\w+)">\s*<a class="sort" href="([^"]+)"\s*>{column}', html)
    assert header, f"the {column} header is not marked as the sort"
    assert header.group(1) == ("descending" if sort.startswith("-") else "ascending")
    again = html_lib.unescape(header.group(2))
    assert numbers(page(client, again)) == expected[::-1]


def test_a_sort_order_keeps_its_pages(three, client):
    three.config["INBOX_PAGE_SIZE"] = 2
    sign_in(client, "aigul")
    first = page(client, "/inbox?sort=-case")
    assert numbers(first) == ["Q-C", "Q-B"] and "3 tasks" in first
    second = page(client, link(first, "next"))
    assert numbers(second) == ["Q-A"] and "sort=-case" in link(second, "prev")
    assert numbers(page(client, link(second, "prev"))) == ["Q-C", "Q-B"]


def test_an_unknown_sort_is_refused_naming_the_field(three, client):
    sign_in(client, "aigul")
    for bad in ("deadline", "--due", "due;drop", "-"):
        response = client.get(f"/inbox?sort={bad}")
        assert response.status_code == 400, bad
        assert "sort: one of due, created, step, case" in response.get_data(as_text=True)


# --- saved filters --------------------------------------------------------------------------

def saved(username):
    return [(f.name, f.query) for f in db.session.execute(
        sa.select(SavedFilter).filter_by(username=username).order_by(SavedFilter.name)).scalars()]


def test_a_filter_is_saved_listed_used_and_deleted_by_its_owner_only(three, client, app):
    sign_in(client, "aigul")
    response = post(client, "/inbox/filters", {"name": "  Unassigned by case  ", "scope": "unassigned",
                                               "sort": "-case"}, page="/inbox")
    assert response.status_code == 302 and response.headers["Location"] == "/inbox?scope=unassigned&sort=-case"
    assert saved("aigul") == [("Unassigned by case", "scope=unassigned&sort=-case")]
    assert "Filter “Unassigned by case” saved." in page(client, response.headers["Location"])
    listed = re.search(r'<a href="([^"]+)"[^>]*>Unassigned by case</a>', page(client, "/inbox"))
    assert listed, "the saved filter is not listed above the queue"
    assert numbers(page(client, html_lib.unescape(listed.group(1)))) == ["Q-C", "Q-B", "Q-A"]

    other = app.test_client()
    sign_in(other, "berik")
    assert "Unassigned by case" not in page(other, "/inbox")
    row_id = db.session.execute(sa.select(SavedFilter.id).filter_by(username="aigul")).scalar_one()
    assert post(other, f"/inbox/filters/{row_id}/delete", page="/inbox").status_code == 404
    assert saved("aigul") == [("Unassigned by case", "scope=unassigned&sort=-case")]

    deleted = post(client, f"/inbox/filters/{row_id}/delete", page="/inbox")
    assert deleted.status_code == 302
    assert 'Filter “Unassigned by case” deleted.' in page(client, "/inbox")
    assert saved("aigul") == [] and "Unassigned by case" not in page(client, "/inbox")


@pytest.mark.parametrize("form, message", [
    ({"name": "   "}, "Name: enter a name for the filter."),
    ({"name": "x" * 81}, "Name: at most 80 characters."),
    ({"name": "Mine", "sort": "sideways"}, "sort: one of due, created, step, case"),
])
def test_a_bad_filter_is_a_form_error_naming_the_field_and_saves_nothing(three, client, form, message):
    sign_in(client, "aigul")
    response = post(client, "/inbox/filters", form, page="/inbox")
    assert response.status_code == 400
    assert message in html_lib.unescape(response.get_data(as_text=True))
    assert saved("aigul") == []


def test_a_name_used_twice_is_refused_and_a_post_without_its_token_changes_nothing(three, client):
    sign_in(client, "aigul")
    assert post(client, "/inbox/filters", {"name": "Mine", "scope": "mine"}, page="/inbox").status_code == 302
    again = post(client, "/inbox/filters", {"name": "Mine", "scope": "all"}, page="/inbox")
    assert again.status_code == 400
    assert "Name: you already have a filter named “Mine”." in html_lib.unescape(again.get_data(as_text=True))
    assert client.post("/inbox/filters", data={"name": "No token"}).status_code == 400
    assert saved("aigul") == [("Mine", "scope=mine")]


def test_only_officers_and_supervisors_have_saved_filters(three, client):
    sign_in(client, "asel")
    assert post(client, "/inbox/filters", {"name": "Mine"}).status_code == 404
    assert saved("asel") == []


# --- the list refreshing itself -------------------------------------------------------------

def test_the_list_fragment_follows_the_filter_and_shows_new_tasks(sample, client):
    opened("Q-1", 15, at=0)
    opened("Q-SHY", 15, at=0, region="SHY")
    sign_in(client, "aigul")
    full = page(client, "/inbox?sort=-due")
    assert 'id="queue-rows"' in full and 'data-seconds="60"' in full and "inbox/queue.js" in full
    fragment = client.get("/inbox/rows?sort=-due")
    assert fragment.status_code == 200 and fragment.headers["Cache-Control"] == "no-store"
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and numbers(text) == ["Q-1"] and "1 task" in text
    assert re.search(r"updated at \d\d:\d\d", text)
    opened("Q-2", 16, at=1)
    assert numbers(page(client, "/inbox/rows?sort=-due")) == ["Q-2", "Q-1"]
    assert "2 tasks" in page(client, "/inbox/rows")


def test_the_list_fragment_shows_only_the_users_region_and_role(sample, app):
    opened("Q-AST", 15, at=0)
    opened("Q-SHY", 15, at=0, region="SHY")
    for username, expected in (("aigul", ["Q-AST"]), ("dana", ["Q-SHY"]), ("erlan", [])):
        user = app.test_client()
        sign_in(user, username)
        assert numbers(page(user, "/inbox/rows")) == expected, username
    analyst = app.test_client()
    sign_in(analyst, "asel")
    assert analyst.get("/inbox/rows").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get("/inbox/rows").status_code == 302


def test_no_refresh_script_when_the_refresh_is_off(sample, client):
    sample.config["INBOX_REFRESH_SECONDS"] = 0
    sign_in(client, "aigul")
    assert "inbox/queue.js" not in page(client, "/inbox")


# --- the next task after a completion -------------------------------------------------------

def complete(client, task_id, **extra):
    """Take and complete a task (the CSRF token read from /search: the last queue filter stays)."""
    post(client, f"/tasks/{task_id}/claim")
    form = {"decision": "approve", "inbox_open_next_shown": "1", "inbox_open_next": "1", **extra}
    return post(client, f"/tasks/{task_id}", form)


def test_after_a_completion_the_officer_lands_on_the_soonest_task_they_may_act_on(sample, client):
    done, later, sooner, taken = (opened("Q-DONE", 14, at=0), opened("Q-LATER", 18, at=1),
                                  opened("Q-SOONER", 16, at=2), opened("Q-TAKEN", 15, at=3))
    opened("Q-SHY", 10, at=4, region="SHY")
    tasks.claim(open_task_of(taken.id).id, tasks.Actor("berik", frozenset({"officer"}), frozenset({"AST"})))
    sign_in(client, "aigul")
    page(client, "/inbox")
    response = complete(client, open_task_of(done.id).id)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/tasks/{open_task_of(sooner.id).id}"
    html = page(client, response.headers["Location"])
    assert "Done: “Review the request” of case Q-DONE is completed." in html
    assert "Next: “Review the request” of case Q-SOONER." in html and "Take this task" in html
    post(client, f"/tasks/{open_task_of(sooner.id).id}/claim", page="/inbox")
    html = page(client, f"/tasks/{open_task_of(sooner.id).id}")
    assert 'id="inbox-open-next" name="inbox_open_next" value="1" checked' in html


def test_the_next_task_follows_the_last_filter_and_the_queue_when_none_is_left(sample, client):
    first, second = opened("Q-1", 15, at=0), opened("Q-2", 16, at=1)
    sign_in(client, "aigul")
    post(client, f"/tasks/{open_task_of(first.id).id}/claim")
    page(client, "/inbox?scope=mine")  # only her claimed task: Q-2 is not in this filter
    response = complete(client, open_task_of(first.id).id)
    assert response.headers["Location"] == "/inbox?scope=mine"
    html = page(client, "/inbox?scope=mine")
    assert "No more tasks in your queue with this filter." in html and numbers(html) == []
    page(client, "/inbox")
    db.session.expire_all()
    assert instances.get(second.id).status == "in_progress"


def test_unticking_open_the_next_task_returns_to_the_queue_and_is_remembered(sample, client):
    cases = [opened(f"Q-{i}", 15 + i, at=i) for i in range(3)]
    sign_in(client, "aigul")
    page(client, "/inbox")
    off = complete(client, open_task_of(cases[0].id).id, inbox_open_next="")
    assert off.headers["Location"] == "/inbox"
    post(client, f"/tasks/{open_task_of(cases[1].id).id}/claim", page="/inbox")
    assert 'name="inbox_open_next" value="1" >' in page(client, f"/tasks/{open_task_of(cases[1].id).id}")
    still_off = post(client, f"/tasks/{open_task_of(cases[1].id).id}", {"decision": "approve"}, page="/inbox")
    assert still_off.headers["Location"] == "/inbox"


# --- the permit number in the completion message --------------------------------------------

def test_the_completion_that_issues_a_permit_names_it_with_a_link(app, client):
    from handlers import cases as case_register
    from tests.permit_support import deploy_procedures, file_application, load_reference, open_task, sweep
    load_reference(app)
    deploy_procedures(app, "permit_issue")
    make_user("aigul.officer", region="AST")
    at = datetime(2026, 6, 10, 5, 0, tzinfo=timezone.utc)
    with time_machine.travel(at, tick=False):
        case_id = file_application(filed_at=at).id
        sweep(app)
        task_id = open_task(case_id).id
        sign_in(client, "aigul.officer")
        post(client, f"/tasks/{task_id}/claim", page="/inbox")
        response = post(client, f"/tasks/{task_id}", {"data_matches": "true", "decision": "issue"}, page="/inbox")
        assert response.status_code == 302, response.get_data(as_text=True)
        html = page(client, response.headers["Location"])
    db.session.expire_all()
    permit_no = case_register.get(case_id).permit_no
    assert permit_no
    number = case_register.get(case_id).application_no
    assert f"Done: “Decide on the permit” of case {number} is completed." in html
    assert f'Permit <a href="/permits/{permit_no}">{permit_no}</a> issued.' in html
    with time_machine.travel(at, tick=False):  # the officer follows the link (signed in that day)
        followed = client.get(f"/permits/{permit_no}")
    assert followed.status_code == 200 and permit_no in followed.get_data(as_text=True)


def test_a_completion_without_a_permit_names_none(sample, client):
    case = opened("Q-1", 15, at=0)
    sign_in(client, "aigul")
    response = complete(client, open_task_of(case.id).id)
    html = page(client, response.headers["Location"])
    assert "Done: “Review the request” of case Q-1 is completed." in html and "Permit " not in html


def test_an_empty_queue_says_so_on_page_1_of_1(sample, client):
    sign_in(client, "aigul")
    html = page(client, "/inbox")
    assert "0 tasks" in html and "Page 1 of 1" in html and "No open tasks here." in html
    assert link(html, "first") is None and link(html, "next") is None and link(html, "last") is None
