"""Substitution: an absent officer's tasks in the substitute's inbox for the period (issue 21)."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine

from engine import audit, substitutions, tasks
from engine.db import db
from engine.exceptions import Conflict
from tests.conftest import deploy_sample
from tests.inbox_support import client, make_user, open_sample_case, open_task_of, post, sign_in  # noqa: F401

ALMATY = ZoneInfo("Asia/Almaty")
AIGUL = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))
BERIK = tasks.Actor("berik", frozenset({"officer"}), frozenset({"AST"}))


@pytest.fixture
def region(app):
    deploy_sample(app)
    make_user("aigul", region="AST", full_name="Aigul Sarsenova")
    make_user("berik", region="AST", full_name="Berik Omarov")
    make_user("dana", region="SHY")
    make_user("erlan", roles=("supervisor",), region="AST")
    make_user("saule", roles=("supervisor",), region="SHY")
    return app


def claimed_by_aigul(name):
    task = open_task_of(open_sample_case(name=name).id)
    tasks.claim(task.id, AIGUL)
    return task


def events(name):
    return db.session.execute(sa.select(audit.AuditEvent).filter_by(event=name)).scalars().all()


def test_an_officer_records_her_absence_and_her_tasks_appear_in_the_substitutes_inbox(region, client, app):
    task = claimed_by_aigul("Absent Officers Applicant")
    with time_machine.travel(datetime(2026, 12, 2, 10, 0, tzinfo=ALMATY), tick=False):
        sign_in(client, "aigul")
        response = post(client, "/substitutions", {"absent": "aigul", "substitute": "berik",
                                                   "starts_on": "2026-12-03", "ends_on": "2026-12-11"},
                        page="/substitutions")
        assert response.status_code == 302
        assert "Berik Omarov substitutes for Aigul Sarsenova from 03.12.2026 to 11.12.2026." in \
            client.get("/substitutions").get_data(as_text=True)
        berik = app.test_client()
        sign_in(berik, "berik")
        assert "Absent Officers Applicant" not in berik.get("/inbox?scope=mine").get_data(as_text=True)
    with time_machine.travel(datetime(2026, 12, 3, 9, 0, tzinfo=ALMATY), tick=False):
        sign_in(berik, "berik")
        mine = berik.get("/inbox?scope=mine").get_data(as_text=True)
        assert "Absent Officers Applicant" in mine and "Take over" in mine
        taken = post(berik, f"/tasks/{task.id}/claim", page="/inbox")
        assert taken.status_code == 302
    with time_machine.travel(datetime(2026, 12, 12, 9, 0, tzinfo=ALMATY), tick=False):
        assert substitutions.covered_by("berik") == frozenset()  # the absence is over
    db.session.expire_all()
    assert tasks.get(task.id).assignee == "berik"
    claimed = [e for e in events("task_claimed") if e.task_id == task.id]
    assert claimed[-1].actor == "berik" and claimed[-1].details == {"substitute_for": "aigul"}
    assert events("substitution_set")[0].details["substitute"] == "berik"


def test_the_substitute_cannot_take_over_tasks_of_an_officer_they_do_not_substitute(region):
    task = claimed_by_aigul("Someone Elses Applicant")
    with pytest.raises(Conflict):
        tasks.claim(task.id, BERIK)
    assert tasks.get(task.id).assignee == "aigul"


def test_the_engine_queue_counts_the_absent_officers_tasks_as_the_substitutes_own_only_while_covering(region):
    task = claimed_by_aigul("Queue Applicant")
    covering = tasks.Actor("berik", BERIK.roles, BERIK.regions, covers=frozenset({"aigul"}))
    assert [t.id for t in tasks.queue(covering, assignee="berik")] == [task.id]
    assert tasks.queue(BERIK, assignee="berik") == []
    assert [t.id for t in tasks.queue(covering, assignee="aigul")] == [task.id]  # not widened for others


def test_a_supervisor_sets_a_substitution_for_an_officer_of_the_region_only(region, client):
    sign_in(client, "erlan")
    today = substitutions.today().isoformat()
    response = post(client, "/substitutions", {"absent": "aigul", "substitute": "berik", "starts_on": today,
                                               "ends_on": today}, page="/substitutions")
    assert response.status_code == 302
    assert substitutions.covered_by("berik") == {"aigul"}
    refused = post(client, "/substitutions", {"absent": "dana", "substitute": "berik", "starts_on": today,
                                              "ends_on": today}, page="/substitutions")
    assert refused.status_code == 422
    assert 'id="error-absent">Choose one of the listed values.' in refused.get_data(as_text=True)
    assert len(events("substitution_set")) == 1


def test_an_officer_cannot_set_an_absence_for_a_colleague_nor_choose_a_substitute_elsewhere(region, client):
    sign_in(client, "aigul")
    today = substitutions.today().isoformat()
    for data, field in [({"absent": "berik", "substitute": "aigul"}, "absent"),
                        ({"absent": "aigul", "substitute": "dana"}, "substitute")]:
        response = post(client, "/substitutions", {**data, "starts_on": today, "ends_on": today}, page="/substitutions")
        assert response.status_code == 422
        assert f'id="error-{field}">Choose one of the listed values.' in response.get_data(as_text=True)
    assert not events("substitution_set")


def test_bad_dates_are_refused_by_field(region, client):
    sign_in(client, "aigul")
    for data, field, message in [
        ({"starts_on": "2099-05-10", "ends_on": "2099-05-01"}, "ends_on", "The absence ends before it starts."),
        ({"starts_on": "2020-05-01", "ends_on": "2020-05-02"}, "ends_on", "This absence is over already."),
        ({"starts_on": "tomorrow", "ends_on": ""}, "starts_on", "Give a date as YYYY-MM-DD."),
        ({"starts_on": "2099-01-01", "ends_on": "2099-01-02", "substitute": "aigul"}, "substitute",
         "Choose someone other than the absent officer."),
    ]:
        response = post(client, "/substitutions", {"absent": "aigul", "substitute": "berik", **data}, page="/substitutions")
        assert response.status_code == 422, data
        assert f'id="error-{field}">{message}' in response.get_data(as_text=True), data
    post(client, "/substitutions", {"absent": "aigul", "substitute": "berik", "starts_on": "2099-01-01",
                                    "ends_on": "2099-01-10"}, page="/substitutions")
    overlap = post(client, "/substitutions", {"absent": "aigul", "substitute": "berik", "starts_on": "2099-01-05",
                                              "ends_on": "2099-01-20"}, page="/substitutions")
    assert "Another substitution already covers part of these days." in overlap.get_data(as_text=True)
    assert len(events("substitution_set")) == 1


def test_a_substitution_ended_early_stops_showing_the_tasks_and_is_audited(region, client):
    today = substitutions.today()
    row = substitutions.add("aigul", "berik", today, date(today.year + 1, 1, 1), actor="erlan")
    sign_in(client, "aigul")
    response = post(client, f"/substitutions/{row.id}/end", page="/substitutions")
    assert response.status_code == 302
    assert substitutions.covered_by("berik") == frozenset()
    assert events("substitution_ended")[0].actor == "aigul"


def test_another_regions_supervisor_cannot_end_a_substitution(region, client):
    today = substitutions.today()
    row = substitutions.add("aigul", "berik", today, today, actor="erlan")
    sign_in(client, "saule")
    assert post(client, f"/substitutions/{row.id}/end", page="/substitutions").status_code == 404
    assert substitutions.covered_by("berik") == {"aigul"}
