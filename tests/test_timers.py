"""Statutory deadlines as timers: indexed when saved, fired by a sweep exactly once.

Time travels with time-machine; SpiffWorkflow reads the same patched clock. Dates: Friday
20 March 2026 is the filing day before Nauryz (21-25 March off), so two working days end
on Friday 27 March 23:59:59 Almaty (18:59:59 UTC); Friday 10 April 2026 + 2 working days
ends on Tuesday 14 April.
"""
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import tests.timer_operators  # noqa: F401  registers timer_test.notify
from engine import audit, definitions, instances, tasks, timers
from engine.db import db
from engine.exceptions import Conflict
from tests.timer_operators import notices

BPMN = Path(__file__).resolve().parent / "bpmn"
OFFICER = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))


def almaty(text):
    return datetime.fromisoformat(text + "+05:00")


@pytest.fixture
def diagrams(app):
    for name in ("timer_decision", "timer_wait"):
        definitions.deploy_file(BPMN / f"{name}.bpmn", app.config, actor="test")
    notices.clear()
    return app


def file_application(filed_on):
    return instances.start("timer_decision", {"filed_on": filed_on, "region": "AST"}, actor="portal")


def start_wait(wait_for="PT2H"):
    return instances.start("timer_wait", {"wait_for": wait_for}, actor="test")


def timer_rows(instance_id=None):
    query = sa.select(timers.Timer).order_by(timers.Timer.due_at)
    if instance_id:
        query = query.filter_by(instance_id=instance_id)
    return list(db.session.execute(query).scalars())


def due_times(instance_id):
    return [(t.bpmn_id, t.due_at.isoformat()) for t in timer_rows(instance_id)]


def events(name, instance_id=None):
    query = sa.select(audit.AuditEvent).filter_by(event=name).order_by(audit.AuditEvent.id)
    if instance_id:
        query = query.filter_by(instance_id=instance_id)
    return list(db.session.execute(query).scalars())


def decision_task(instance_id):
    return db.session.execute(sa.select(tasks.HumanTask).filter_by(instance_id=instance_id)).scalar_one()


def decide(instance_id):
    task = decision_task(instance_id)
    tasks.claim(task.id, OFFICER)
    tasks.complete(task.id, OFFICER, {"decision": "approve"})


# --- the index --------------------------------------------------------------------------------

def test_decision_deadline_and_its_reminder_are_indexed_from_the_case_data(diagrams, time_machine):
    time_machine.move_to(almaty("2026-03-20T10:00:00"), tick=False)
    row = file_application("2026-03-20")
    assert due_times(row.id) == [("remind", "2026-03-27T04:00:00+00:00"),
                                 ("lapse", "2026-03-27T18:59:59+00:00")]
    assert decision_task(row.id).due_at.isoformat() == "2026-03-27T18:59:59+00:00"
    (decide_task,) = instances.peek(instances.get(row.id)).get_tasks(spec_name="decide")
    data = decide_task.data
    assert data["deadlines"]["decision"] == data["decision_deadline"]
    assert data["deadlines"]["decision"]["due_at"] == "2026-03-27T23:59:59+05:00"
    assert data["deadlines"]["decision_reminder"]["inputs"]["start_from_deadline"] == "decision"


def test_listing_due_timers_never_loads_a_workflow(diagrams, time_machine, monkeypatch):
    time_machine.move_to(almaty("2026-03-20T10:00:00"), tick=False)
    row = file_application("2026-03-20")
    time_machine.move_to(almaty("2026-03-27T12:00:00"), tick=False)

    def no_loading(*args, **kwargs):
        raise AssertionError("a workflow was deserialized")
    monkeypatch.setattr(instances, "load_state", no_loading)
    assert [t.bpmn_id for t in timers.due()] == ["remind"]
    assert [t.bpmn_id for t in timers.upcoming(instance_id=row.id)] == ["remind", "lapse"]
    assert [c.bpmn_id for c in timers.claim_due(10, "lister", timedelta(seconds=60))] == ["remind"]


# --- deadlines over weekends and holidays ----------------------------------------------------------

def test_decision_filed_friday_before_nauryz_lapses_only_after_the_end_of_friday_27_march(diagrams, time_machine):
    time_machine.move_to(almaty("2026-03-20T10:00:00"), tick=False)
    row = file_application("2026-03-20")
    for not_yet in ("2026-03-23T12:00:00", "2026-03-26T23:59:59", "2026-03-27T23:59:59"):
        time_machine.move_to(almaty(not_yet), tick=False)
        timers.run_due()
        assert not events(timers.TIMER_FIRED, row.id) or {e.details["bpmn_id"] for e in
                                                         events(timers.TIMER_FIRED, row.id)} == {"remind"}
        assert decision_task(row.id).status == "ready"
    time_machine.move_to(almaty("2026-03-28T00:00:00"), tick=False)
    assert timers.run_due().fired == 1
    lapsed = events(timers.TIMER_FIRED, row.id)[-1]
    assert lapsed.details["bpmn_id"] == "lapse" and lapsed.details["due_at"] == "2026-03-27T18:59:59+00:00"
    assert lapsed.actor == "timer" and lapsed.at == almaty("2026-03-28T00:00:00")
    assert decision_task(row.id).status == "cancelled"
    assert instances.get(row.id).status == "completed"
    assert ("lapsed", row.id) in notices and timer_rows(row.id) == []


def test_decision_filed_friday_10_april_lapses_after_the_weekend_at_the_end_of_tuesday_14_april(diagrams, time_machine):
    time_machine.move_to(almaty("2026-04-10T16:00:00"), tick=False)
    row = file_application("2026-04-10")
    assert due_times(row.id) == [("remind", "2026-04-14T04:00:00+00:00"),
                                 ("lapse", "2026-04-14T18:59:59+00:00")]
    time_machine.move_to(almaty("2026-04-13T23:00:00"), tick=False)
    assert timers.run_due().claimed == 0
    time_machine.move_to(almaty("2026-04-15T00:00:01"), tick=False)
    assert timers.run_due().fired == 2
    assert instances.get(row.id).status == "completed"


def test_a_day_off_set_by_the_administrator_moves_the_deadline_of_new_applications(diagrams, time_machine):
    from engine import calendar
    time_machine.move_to(almaty("2026-03-20T10:00:00"), tick=False)
    calendar.set_override(datetime(2026, 3, 26).date(), False, "Government decree (test)", "admin")
    row = file_application("2026-03-20")
    assert due_times(row.id)[-1] == ("lapse", "2026-03-30T18:59:59+00:00")


# --- boundary timers on the officer's task ------------------------------------------------------

def test_officer_is_reminded_at_nine_on_the_deadline_day_and_still_decides(diagrams, time_machine):
    time_machine.move_to(almaty("2026-03-20T10:00:00"), tick=False)
    row = file_application("2026-03-20")
    time_machine.move_to(almaty("2026-03-27T09:00:01"), tick=False)
    result = timers.run_due()
    assert (result.claimed, result.fired, result.conflicts, result.failed) == (1, 1, 0, 0)
    assert notices == [("reminder", row.id)]
    assert [e.details["bpmn_id"] for e in events(timers.TIMER_FIRED, row.id)] == ["remind"]
    assert decision_task(row.id).status == "ready"
    assert [t.bpmn_id for t in timer_rows(row.id)] == ["lapse"]
    decide(row.id)
    assert instances.get(row.id).status == "completed"
    assert timer_rows(row.id) == []
    assert [e.details["bpmn_id"] for e in events(timers.TIMER_CANCELLED, row.id)] == ["lapse"]


def test_deadline_timer_is_cancelled_when_the_officer_decides_first(diagrams, time_machine):
    time_machine.move_to(almaty("2026-03-20T10:00:00"), tick=False)
    row = file_application("2026-03-20")
    time_machine.move_to(almaty("2026-03-26T11:00:00"), tick=False)
    decide(row.id)
    assert timer_rows(row.id) == []
    assert sorted(e.details["bpmn_id"] for e in events(timers.TIMER_CANCELLED, row.id)) == ["lapse", "remind"]
    time_machine.move_to(almaty("2026-04-01T00:00:00"), tick=False)
    assert timers.run_due().claimed == 0
    assert events(timers.TIMER_FIRED) == [] and notices == []


def test_a_reminder_that_fails_puts_the_case_into_an_incident_and_retry_rearms_the_deadline(diagrams, time_machine):
    time_machine.move_to(almaty("2026-03-20T10:00:00"), tick=False)
    row = file_application("2026-03-20")
    diagrams.config["TIMER_TEST_NOTIFY_FAILS"] = True
    time_machine.move_to(almaty("2026-03-27T09:30:00"), tick=False)
    timers.run_due()
    assert instances.get(row.id).status == "incident"
    assert [e.details["bpmn_id"] for e in events(timers.TIMER_FIRED, row.id)] == ["remind"]
    assert timer_rows(row.id) == []  # nothing fires in a stopped case
    diagrams.config["TIMER_TEST_NOTIFY_FAILS"] = False
    instances.retry(row.id, "operator")
    assert instances.get(row.id).status == "in_progress"
    assert due_times(row.id) == [("lapse", "2026-03-27T18:59:59+00:00")]


# --- an intermediate timer -----------------------------------------------------------------------

def test_intermediate_timer_waits_its_duration_then_the_process_goes_on(diagrams, time_machine):
    time_machine.move_to(almaty("2026-06-01T10:00:00"), tick=False)
    row = start_wait("PT2H")
    assert due_times(row.id) == [("wait", "2026-06-01T07:00:00+00:00")]
    time_machine.move_to(almaty("2026-06-01T11:59:59"), tick=False)
    assert timers.run_due().claimed == 0
    time_machine.move_to(almaty("2026-06-01T12:00:01"), tick=False)
    assert timers.run_due().fired == 1
    done = instances.get(row.id)
    assert done.status == "completed" and instances.peek(done).data["waited"] is True


# --- exactly once ----------------------------------------------------------------------------------

def test_two_concurrent_sweeps_fire_each_of_200_due_timers_exactly_once(diagrams, time_machine):
    time_machine.move_to(almaty("2026-06-01T10:00:00"), tick=False)
    ids = [start_wait("PT1H").id for _ in range(200)]
    db.session.remove()
    time_machine.move_to(almaty("2026-06-01T12:00:00"), tick=False)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def sweep(owner):
        with diagrams.app_context():
            try:
                barrier.wait()
                results.append(timers.run_due(limit=1000, owner=owner))
            except Exception as err:  # pragma: no cover - reported below
                errors.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sweep, args=(f"sweeper-{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    fired = events(timers.TIMER_FIRED)
    assert len(fired) == 200 and len({e.instance_id for e in fired}) == 200  # one wait each, fired once
    assert sum(r.fired for r in results) == 200
    statuses = db.session.execute(sa.select(instances.ProcessInstance.status)
                                  .where(instances.ProcessInstance.id.in_(ids))).scalars().all()
    assert set(statuses) == {"completed"} and timer_rows() == []


def test_two_steps_racing_for_one_timer_past_its_lease_fire_it_once(diagrams, time_machine):
    time_machine.move_to(almaty("2026-06-01T10:00:00"), tick=False)
    row_id = start_wait("PT1H").id
    time_machine.move_to(almaty("2026-06-01T12:00:00"), tick=False)
    (claimed,) = timers.claim_due(1, "slow-sweeper", timedelta(seconds=60))
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes = []

    def fire(owner):
        with diagrams.app_context():
            barrier.wait()
            try:
                outcomes.append(timers._fire(claimed, owner))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=fire, args=(owner,)) for owner in ("slow-sweeper", "other")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(fired for _, fired in outcomes) == [0, 1]
    assert len(events(timers.TIMER_FIRED, row_id)) == 1
    assert instances.get(row_id).status == "completed"


def test_a_step_that_loses_to_another_writer_releases_the_timer_for_the_next_sweep(diagrams, time_machine, monkeypatch):
    time_machine.move_to(almaty("2026-06-01T10:00:00"), tick=False)
    row = start_wait("PT1H")
    time_machine.move_to(almaty("2026-06-01T12:00:00"), tick=False)
    real_step = instances.step

    def losing_step(*args, **kwargs):
        raise Conflict("changed by someone else")
    monkeypatch.setattr(instances, "step", losing_step)
    result = timers.run_due()
    assert (result.claimed, result.fired, result.conflicts) == (1, 0, 1)
    (timer,) = timer_rows(row.id)
    assert timer.lease_owner is None and timer.lease_until is None
    monkeypatch.setattr(instances, "step", real_step)
    assert timers.run_due().fired == 1
    assert len(events(timers.TIMER_FIRED, row.id)) == 1


def lease(instance_id, owner, until):
    db.session.execute(sa.update(timers.Timer).filter_by(instance_id=instance_id)
                       .values(lease_owner=owner, lease_until=until))
    db.session.commit()


def test_a_sweeper_that_died_holding_a_lease_keeps_the_timer_until_the_lease_ends(diagrams, time_machine):
    time_machine.move_to(almaty("2026-06-01T10:00:00"), tick=False)
    row = start_wait("PT1H")
    now = almaty("2026-06-01T12:00:00")
    time_machine.move_to(now, tick=False)
    lease(row.id, "dead-sweeper", now + timedelta(seconds=30))
    assert timers.run_due(owner="alive").claimed == 0
    assert events(timers.TIMER_FIRED) == []
    time_machine.move_to(now + timedelta(seconds=31), tick=False)
    result = timers.run_due(owner="alive")
    assert (result.claimed, result.fired) == (1, 1)
    assert [e.details["bpmn_id"] for e in events(timers.TIMER_FIRED, row.id)] == ["wait"]


def test_a_lease_left_by_a_dead_sweeper_in_the_past_is_taken_at_once(diagrams, time_machine):
    time_machine.move_to(almaty("2026-06-01T10:00:00"), tick=False)
    row = start_wait("PT1H")
    now = almaty("2026-06-01T12:00:00")
    time_machine.move_to(now, tick=False)
    lease(row.id, "dead-sweeper", now - timedelta(seconds=1))
    assert timers.run_due(owner="alive").fired == 1


# --- the clock ---------------------------------------------------------------------------------------

def test_due_times_are_compared_with_the_engine_clock_never_the_database_clock(diagrams, time_machine):
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.lower())
    sa.event.listen(db.engine, "before_cursor_execute", remember)
    try:
        time_machine.move_to(almaty("2026-03-20T10:00:00"), tick=False)
        row = file_application("2026-03-20")
        # Travelled back: the database's own clock is months past the due time, the engine's is not.
        time_machine.move_to(almaty("2026-03-26T12:00:00"), tick=False)
        assert timers.run_due().claimed == 0
        time_machine.move_to(almaty("2026-03-28T00:00:00"), tick=False)
        assert timers.run_due().fired == 2
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", remember)
    assert instances.get(row.id).status == "completed"
    assert statements and not [s for s in statements if "now()" in s or "current_timestamp" in s
                                or "'now'" in s or "localtimestamp" in s]


# --- deploy refusals ---------------------------------------------------------------------------------

def refusals(app, xml: bytes):
    return [(p.element_id, p.reason) for p in definitions.validate("t.bpmn", xml, {}, app.config)]


def test_a_timer_behind_an_event_based_gateway_is_refused(app):
    problems = refusals(app, (BPMN / "timer_event_gateway.bpmn").read_bytes())
    assert [(e, r) for e, r in problems if "event-based gateway" in r] == [
        ("too_late", "timer behind the event-based gateway first_event: wait in a catch event or receive "
                     "task with a boundary timer instead")]


@pytest.mark.parametrize("expression", [
    '"2026-03-27T23:59:59"',
    '"2026-03-27"',
    "'2026-03-27 23:59:59'",
    '"2026-03-27T23:59:59" if urgent else "2026-03-30T23:59:59+05:00"',
])
def test_a_deadline_date_without_a_time_zone_is_refused(app, expression):
    xml = _with_time_date(expression)
    problems = [p for p in refusals(app, xml) if "time zone" in p[1]]
    assert problems and problems[0][0] == "wait" and "has no time zone" in problems[0][1]


def test_a_naive_start_of_a_timer_cycle_is_refused(app):
    xml = (BPMN / "timer_wait.bpmn").read_bytes().replace(
        b"<bpmn:timeDuration>wait_for</bpmn:timeDuration>",
        b'<bpmn:timeCycle>"R3/2026-03-27T09:00:00/PT1H"</bpmn:timeCycle>')
    assert ("wait", "timeCycle '2026-03-27T09:00:00' has no time zone: give an offset (+05:00) or Z") in \
        refusals(app, xml)


@pytest.mark.parametrize("expression", [
    '"2026-03-27T23:59:59+05:00"',
    '"2026-03-27T18:59:59Z"',
    "deadlines['decision']['due_at_utc']",
])
def test_a_deadline_date_with_a_time_zone_or_from_the_case_data_deploys(app, expression):
    assert refusals(app, _with_time_date(expression)) == []


def _with_time_date(expression: str) -> bytes:
    text = expression.replace("&", "&amp;").replace("<", "&lt;").encode()
    return (BPMN / "timer_wait.bpmn").read_bytes().replace(
        b"<bpmn:timeDuration>wait_for</bpmn:timeDuration>", b"<bpmn:timeDate>" + text + b"</bpmn:timeDate>")

