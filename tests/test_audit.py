"""The audit log: every change of a case leaves an event, in order, and no event can be changed."""
import pytest
import sqlalchemy as sa

import tests.message_operators as ops
from engine import audit, instances, messages, tasks
from engine.db import db
from tests.conftest import deploy_sample
from tests.test_messages import deploy_message_diagrams

OFFICER = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))
OTHER_OFFICER = tasks.Actor("berik", frozenset({"officer"}), frozenset({"AST"}))


def trail(instance_id):
    return [(e.event, e.actor) for e in audit.trail(instance_id)]


def test_the_audit_trail_of_a_whole_sample_run_is_complete_and_in_order(app):
    deploy_sample(app)
    row = instances.start("sample_review", {"subject": "case", "scores": {"a": 1, "b": 2, "c": 3},
                                            "region": "AST"}, actor="portal")
    task_id = tasks.queue(OFFICER)[0].id
    tasks.claim(task_id, OFFICER)
    tasks.unclaim(task_id, OFFICER)
    tasks.claim(task_id, OTHER_OFFICER)
    tasks.complete(task_id, OTHER_OFFICER, {"decision": "reject", "comment": "scores too low"})

    deployed = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="definition_deployed")).scalar_one()
    assert (deployed.actor, deployed.details["process_id"], deployed.details["version"]) == ("test", "sample_review", 1)
    events = audit.trail(row.id)
    assert [(e.event, e.actor) for e in events] == [
        ("instance_started", "portal"),
        ("task_claimed", "aigul"),
        ("task_unclaimed", "aigul"),
        ("task_claimed", "berik"),
        ("task_completed", "berik"),
        ("instance_completed", "system"),
    ]
    assert deployed.id < events[0].id
    assert events[0].details["process_id"] == "sample_review"
    assert all(e.task_id == task_id for e in events[1:5])
    assert events[4].details["data"] == {"decision": "reject", "comment": "scores too low"}
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_messages_delivered_and_refused_are_in_the_case_trail(app):
    deploy_message_diagrams(app)
    ops.register_timeouts["remaining"] = 0
    row = instances.start("message_police_check", {"case_id": "C-1"}, actor="portal")
    messages.deliver("police_reply", "C-1", {"clean": False}, message_id="p-1", actor="police")
    messages.deliver("police_reply", "C-1", {"clean": True}, message_id="p-2", actor="police")
    assert trail(row.id) == [("instance_started", "portal"), ("message_delivered", "police"),
                             ("instance_completed", "system"), ("message_refused", "police")]


def test_incidents_raised_and_retried_are_in_the_case_trail(app, monkeypatch):
    deploy_message_diagrams(app)
    monkeypatch.setitem(ops.register_timeouts, "remaining", 3)
    monkeypatch.setattr("engine.script_engine.time.sleep", lambda s: None)
    row = instances.start("message_police_check", {"case_id": "C-1"}, actor="portal")
    messages.deliver("police_reply", "C-1", {"clean": True}, actor="police")
    instances.retry(row.id, "operator")
    assert trail(row.id) == [("instance_started", "portal"), ("message_delivered", "police"),
                             ("incident_raised", "police"), ("incident_retried", "operator"),
                             ("instance_completed", "system")]
    raised = [e for e in audit.trail(row.id) if e.event == "incident_raised"][0]
    assert raised.details["error_type"] == "TimeoutError" and raised.details["task"] == "Register the clearance"


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET actor = 'someone else'", "DELETE FROM audit_event"])
def test_the_database_refuses_to_change_or_delete_an_audit_event(app, statement):
    audit.record("definition_deployed", actor="analyst", details={"process_id": "x"})
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.text(statement))
        db.session.flush()
    db.session.rollback()
    assert [e.actor for e in db.session.execute(sa.select(audit.AuditEvent)).scalars()] == ["analyst"]


def test_the_application_refuses_to_change_or_delete_an_audit_event(app):
    event_id = audit.record("definition_deployed", actor="analyst")
    db.session.commit()
    event = db.session.get(audit.AuditEvent, event_id)
    event.actor = "someone else"
    with pytest.raises(audit.AppendOnly):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(audit.AuditEvent, event.id))
    with pytest.raises(audit.AppendOnly):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(audit.AuditEvent, event.id).actor == "analyst"


def test_an_event_written_in_a_savepoint_goes_when_the_savepoint_is_rolled_back(app):
    # The engine remembers the session's connection for its transaction: a savepoint begun
    # afterwards must still be begun before the next write, and undo it.
    audit.record("instance_started", actor="officer", instance_id="sp-1")
    savepoint = db.session.begin_nested()
    audit.record("incident_raised", actor="officer", instance_id="sp-1")
    savepoint.rollback()
    audit.record("instance_completed", actor="system", instance_id="sp-1")
    assert [e.event for e in audit.trail("sp-1")] == ["instance_started", "instance_completed"]
    db.session.rollback()
    assert audit.trail("sp-1") == []
