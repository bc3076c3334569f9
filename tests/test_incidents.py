"""Incidents: a failing step stops only its own instance, keeps the work before it, and can be retried."""
import json

import pytest

import tests.message_operators as ops
from engine import audit, instances, messages, script_engine, tasks
from engine.db import db
from tests.conftest import deploy_sample
from tests.test_messages import deploy_message_diagrams

OFFICER = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))


@pytest.fixture
def messaging(app):
    deploy_message_diagrams(app)
    ops.register_timeouts["remaining"] = 0
    ops.register_calls.clear()
    return app


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()  # the command committed in its own session
    return result


def police_check(case_id):
    return instances.start("message_police_check", {"case_id": case_id}, actor="portal")


def events(instance_id):
    return [e.event for e in audit.trail(instance_id)]


def test_a_gateway_condition_failing_at_run_time_is_an_incident_of_that_instance_only(messaging):
    broken, healthy = police_check("C-1"), police_check("C-2")
    messages.deliver("police_reply", "C-1", {"verdict": "clean"})  # the diagram expects 'clean'
    messages.deliver("police_reply", "C-2", {"clean": True})
    failed = instances.get(broken.id)
    assert failed.status == "incident"
    assert (failed.incident_task_name, failed.incident_error_type) == ("Record clean?", "KeyError")
    assert "clean" in failed.incident_message
    assert instances.get(healthy.id).status == "completed"
    listed = cli(messaging, "instances", "incidents")
    assert listed.exit_code == 0
    assert broken.id in listed.output and "KeyError" in listed.output and healthy.id not in listed.output


def test_a_retry_that_fails_again_stays_an_incident_and_says_so(messaging):
    row = police_check("C-1")
    messages.deliver("police_reply", "C-1", {"verdict": "clean"})
    result = cli(messaging, "instances", "retry", row.id, "--actor", "operator")
    # A script that retries it must not take this for success.
    assert result.exit_code == 1 and f"{row.id}: incident" in result.output
    assert instances.get(row.id).status == "incident"
    assert events(row.id)[-3:] == ["incident_raised", "incident_retried", "incident_raised"]


def test_a_retryable_handler_is_retried_with_back_off_and_then_succeeds(messaging, monkeypatch):
    sleeps = []
    monkeypatch.setattr(script_engine.time, "sleep", sleeps.append)
    ops.register_timeouts["remaining"] = 2
    row = police_check("C-1")
    messages.deliver("police_reply", "C-1", {"clean": True})
    assert instances.get(row.id).status == "completed"
    assert ops.register_calls == ["C-1"] * 3
    assert sleeps == [0.001, 0.002]


def test_a_retryable_handler_that_keeps_failing_is_an_incident_that_the_cli_retries(messaging, monkeypatch):
    monkeypatch.setattr(script_engine.time, "sleep", lambda s: None)
    ops.register_timeouts["remaining"] = 10
    row = police_check("C-1")
    messages.deliver("police_reply", "C-1", {"clean": True})
    failed = instances.get(row.id)
    assert (failed.status, failed.incident_task_name, failed.incident_error_type) == (
        "incident", "Register the clearance", "TimeoutError")
    assert len(ops.register_calls) == 3
    listed = json.loads(cli(messaging, "instances", "incidents", "--json").output)
    assert [(i["id"], i["incident"]["error_type"]) for i in listed] == [(row.id, "TimeoutError")]

    ops.register_timeouts["remaining"] = 0
    result = cli(messaging, "instances", "retry", row.id, "--actor", "operator")
    assert result.exit_code == 0 and f"{row.id}: completed" in result.output
    assert instances.get(row.id).status == "completed"
    assert cli(messaging, "instances", "incidents").output.strip() == "no incidents"
    retried = [e for e in audit.trail(row.id) if e.event == "incident_retried"]
    assert [e.actor for e in retried] == ["operator"]
    assert events(row.id)[-3:] == ["incident_raised", "incident_retried", "instance_completed"]


def test_a_failing_handler_after_a_completed_user_task_keeps_the_completion_until_the_cli_retry(app):
    deploy_sample(app)
    row = instances.start("sample_review", {"subject": "case", "scores": {"a": 1, "b": 2, "c": 3},
                                            "region": "AST"}, actor="portal")
    task = tasks.queue(OFFICER)[0]
    tasks.claim(task.id, OFFICER)
    app.config["SAMPLE_RECORD_FAILS"] = True
    tasks.complete(task.id, OFFICER, {"decision": "approve"})
    assert instances.get(row.id).status == "incident"
    assert tasks.get(task.id).status == "completed"
    assert "task_completed" in events(row.id)

    app.config["SAMPLE_RECORD_FAILS"] = False
    assert cli(app, "instances", "retry", row.id).exit_code == 0
    assert instances.get(row.id).status == "completed"
    assert instances.peek(instances.get(row.id)).data["recorded"] == {"decision": "approve"}


def test_the_cli_refuses_to_retry_an_instance_without_an_incident(messaging):
    row = police_check("C-1")
    result = cli(messaging, "instances", "retry", row.id)
    assert result.exit_code == 1 and "no incident" in result.output
    result = cli(messaging, "instances", "retry", "no-such-instance")
    assert result.exit_code == 1 and "no process instance" in result.output


def test_a_handler_failing_in_the_first_step_leaves_a_stored_incident_and_undoes_its_writes(app, monkeypatch):
    """The new instance's row is written when its first step saves; a handler that writes and
    then fails before that (in its savepoint) must not take the instance with it."""
    from dataclasses import replace

    from engine import operators
    deploy_sample(app)

    def collect_and_fail(ctx, subject):
        audit.record("handler_wrote", actor="test", instance_id=ctx.instance_id)
        raise RuntimeError("the registry is down")

    original = operators.get("sample.collect")
    monkeypatch.setitem(operators._REGISTRY, "sample.collect",
                        replace(original, func=collect_and_fail, pure=False))
    row = instances.start("sample_review", {"subject": "x", "scores": {"a": 1, "b": 1, "c": 1},
                                            "region": "AST"}, actor="portal")
    db.session.expire_all()
    stored = instances.get(row.id)
    assert (stored.status, stored.incident_task_name, stored.incident_error_type) == (
        "incident", "Collect the request", "RuntimeError")
    assert stored.version == 1
    assert events(row.id) == ["instance_started", "incident_raised"]
