"""Every engine run has a budget: a hostile diagram becomes an incident, the service keeps going.

The diagrams under tests/bpmn/hostile/ are deployable: a loop whose condition stays true, a
multi-instance of 20,000 (as a literal, refused at deploy, and as an evaluated count), and a
gateway cycle meant to turn 100,000 times.
"""
import threading
import time

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from engine import audit, definitions, instances, tasks
from engine.db import db
from engine.workflow import EngineWorkflow
from tests.conftest import SAMPLE_BPMN, TESTS_DIR, deploy_sample
from tests.test_api_support import make_token

HOSTILE = TESTS_DIR / "bpmn" / "hostile"


@pytest.fixture
def hostile(app):
    app.config.update(ENGINE_STEP_MAX_TASKS=2000, ENGINE_STEP_MAX_SECONDS=3.0)
    for name in ("endless_loop", "cardinality_evaluated", "gateway_cycle"):
        definitions.deploy_file(HOSTILE / f"{name}.bpmn", app.config, actor="test")
    deploy_sample(app)
    return app


def incident_of(instance_id):
    db.session.expire_all()
    return instances.get(instance_id)


def test_a_loop_whose_condition_stays_true_is_an_incident_naming_the_element(hostile):
    row = instances.start("hostile_endless_loop", {"turns": 0}, actor="test")
    row = incident_of(row.id)
    assert row.status == "incident" and row.incident_error_type == "StepBudgetExceeded"
    assert "Spin" in row.incident_task_name and "step budget exceeded" in row.incident_message
    assert "ENGINE_STEP_MAX_TASKS 2000" in row.incident_message
    # Rolled back to the last save: for a start, the case as it was accepted, nothing run.
    workflow = instances.peek(row)
    assert workflow.task_tree.data["turns"] == 0
    assert "instance_completed" not in [e.event for e in audit.trail(row.id)]
    # The start was its own transaction, rolled back whole: its event is written again, once.
    assert [e.event for e in audit.trail(row.id)].count("instance_started") == 1
    assert "incident_raised" in [e.event for e in audit.trail(row.id)]


def test_a_gateway_cycle_of_100000_turns_is_an_incident_never_completed(hostile):
    row = instances.start("hostile_gateway_cycle", {"turns": 0, "wanted": 100_000}, actor="test")
    row = incident_of(row.id)
    assert row.status == "incident" and row.incident_error_type == "StepBudgetExceeded"
    assert row.completed_at is None


def test_the_time_budget_stops_a_run_as_well_as_the_task_count(hostile):
    hostile.config.update(ENGINE_STEP_MAX_TASKS=10_000_000, ENGINE_STEP_MAX_SECONDS=0.5)
    started = time.monotonic()
    row = instances.start("hostile_gateway_cycle", {"turns": 0, "wanted": 10_000_000}, actor="test")
    assert time.monotonic() - started < 30  # a budget of half a second, not the 10 million turns
    row = incident_of(row.id)
    assert row.status == "incident" and "ENGINE_STEP_MAX_SECONDS 0.5" in row.incident_message


def test_a_deep_cycle_within_the_budget_runs_to_its_end(hostile):
    """Deeper than SpiffWorkflow's search depth of 1000: nothing may call it done early."""
    hostile.config.update(ENGINE_STEP_MAX_TASKS=20_000, ENGINE_STEP_MAX_SECONDS=120.0)
    row = instances.start("hostile_gateway_cycle", {"turns": 0, "wanted": 1500}, actor="test")
    assert row.status == "completed", row.incident()
    data = instances.peek(incident_of(row.id)).data
    assert data["turns"] == 1500


def test_an_evaluated_cardinality_above_the_bound_is_an_incident_before_any_instance_exists(hostile):
    row = instances.start("hostile_cardinality", {"count": 20_000}, actor="test")
    row = incident_of(row.id)
    assert row.status == "incident"
    assert "ENGINE_MAX_CARDINALITY" in row.incident_message and "20000" in row.incident_message


@pytest.mark.parametrize("count", [[[0]], "PT1H", 2.5, True])
def test_a_cardinality_of_the_wrong_type_is_an_incident_not_an_error(hostile, count):
    row = instances.start("hostile_cardinality", {"count": count}, actor="test")
    row = incident_of(row.id)
    assert row.status == "incident" and "expected a whole number" in row.incident_message


def test_a_cardinality_within_the_bound_runs(hostile):
    row = instances.start("hostile_cardinality", {"count": 5}, actor="test")
    assert incident_of(row.id).status == "completed"


def test_a_literal_cardinality_above_the_bound_is_refused_at_deploy(app):
    with pytest.raises(definitions.DeployError) as refused:
        definitions.deploy_file(HOSTILE / "cardinality_literal.bpmn", app.config, actor="test")
    assert any(p.element_id == "each" and "ENGINE_MAX_CARDINALITY" in p.reason for p in refused.value.problems)


def test_the_configured_bound_is_the_only_bound_at_deploy(app):
    """One bound, ENGINE_MAX_CARDINALITY: raised above a literal count, the literal deploys."""
    app.config["ENGINE_MAX_CARDINALITY"] = 50_000
    [deployed] = definitions.deploy_file(HOSTILE / "cardinality_literal.bpmn", app.config, actor="test")
    assert deployed.version == 1


def test_a_completion_that_runs_past_the_budget_is_refused_and_the_task_stays_open(hostile, monkeypatch):
    """The run after a completion goes past its budget: rolled back to the last save (the
    completion too), the instance an incident; the officer's answer says so."""
    row = instances.start("sample_review", {"subject": "x", "scores": {"a": 1, "b": 1, "c": 1},
                                            "region": "AST"}, actor="test")
    officer = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))
    [task] = tasks.queue(officer)
    task_id = task.id
    tasks.claim(task_id, officer)
    hostile.config.update(ENGINE_STEP_MAX_TASKS=0)
    with pytest.raises(instances.StepBudgetExceeded):
        tasks.complete(task_id, officer, {"decision": "approve"})
    db.session.expire_all()
    after = instances.get(row.id)
    assert after.status == "incident" and after.incident_error_type == "StepBudgetExceeded"
    assert tasks.get(task_id).status == "ready"  # the completion was undone with the run


def test_a_workflow_with_nothing_left_to_run_but_no_end_reached_is_never_completed(app, monkeypatch):
    deploy_sample(app)
    row = instances.start("sample_review", {"subject": "x", "scores": {"a": 1, "b": 1, "c": 1}}, actor="test")
    assert row.status == "in_progress"
    monkeypatch.setattr(EngineWorkflow, "is_completed", lambda self: True)
    with instances.step(row.id, "test"):
        pass
    after = incident_of(row.id)
    assert after.status == "incident" and "reached no end event" in after.incident_message
    assert after.completed_at is None


# --- the service keeps answering while a hostile case runs into its budget -----------------------

@pytest.fixture
def served(hostile):
    server = make_server("127.0.0.1", 0, hostile, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def test_health_and_other_cases_keep_moving_while_a_hostile_case_runs(served, hostile):
    import requests
    token = make_token("robot", ["instances:write"])
    hostile.config.update(ENGINE_STEP_MAX_TASKS=10_000_000, ENGINE_STEP_MAX_SECONDS=3.0)
    db.session.commit()
    db.session.remove()
    answers = {}

    def hostile_start():
        answers["hostile"] = requests.post(f"{served}/api/v1/process-instances", headers=token, timeout=60,
                                           json={"process_id": "hostile_gateway_cycle",
                                                 "data": {"turns": 0, "wanted": 10_000_000}})

    runner = threading.Thread(target=hostile_start)
    runner.start()
    time.sleep(0.5)  # the hostile run is under way
    health = requests.get(f"{served}/health", timeout=10)
    other = requests.post(f"{served}/api/v1/process-instances", headers=token, timeout=30,
                          json={"process_id": "sample_review",
                                "data": {"subject": "y", "scores": {"a": 1, "b": 1, "c": 1}}})
    runner.join(60)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert other.status_code == 201 and other.json()["status"] == "in_progress"
    hostile_answer = answers["hostile"]
    assert hostile_answer.status_code == 201, hostile_answer.text
    assert hostile_answer.json()["status"] == "incident"
    assert hostile_answer.json()["incident"]["error_type"] == "StepBudgetExceeded"
    completed = db.session.execute(sa.select(sa.func.count()).select_from(instances.ProcessInstance)
                                   .filter_by(process_id="hostile_gateway_cycle", status="completed")).scalar()
    assert completed == 0
