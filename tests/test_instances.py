"""Instances and human tasks of the sample diagram: run, persist, claim, complete, conflict."""
import threading

import pytest
import sqlalchemy as sa

from app import create_app
from engine import audit, definitions, instances, tasks
from engine.db import db
from engine.exceptions import Conflict, Forbidden, InvalidData, NotFound
from tests.conftest import deploy_sample, make_config

OFFICER = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))
OTHER_OFFICER = tasks.Actor("berik", frozenset({"officer"}), frozenset({"AST"}))
FOREIGN_OFFICER = tasks.Actor("dana", frozenset({"officer"}), frozenset({"SHY"}))
SUPERVISOR = tasks.Actor("erlan", frozenset({"supervisor"}), frozenset({"AST"}))
DUE = "2026-06-17T23:59:59+05:00"


def start(scores=(1, 2, 3), region="AST"):
    return instances.start("sample_review", {
        "subject": "case", "scores": dict(zip("abc", scores)), "region": region,
        "deadlines": {"review": {"due_at": DUE}}}, actor="portal")


def open_task(instance_id):
    return db.session.execute(sa.select(tasks.HumanTask).filter_by(instance_id=instance_id,
                                                                   status="ready")).scalar_one()


@pytest.fixture
def sample(app):
    deploy_sample(app)
    return app


def test_an_instance_runs_to_its_user_task_and_indexes_it(sample):
    row = start()
    assert row.status == "in_progress" and row.region == "AST"
    task = open_task(row.id)
    assert (task.bpmn_id, task.name, task.lane, task.role, task.region, task.form) == (
        "review", "Review the request", "Officer", "officer", "AST", "review.schema.json")
    assert task.due_at.isoformat() == "2026-06-17T18:59:59+00:00"
    assert task.assignee is None and task.escalated is False


def test_negative_total_score_ends_without_a_human_task(sample):
    row = start(scores=(-5, 1, 1))
    assert row.status == "completed"
    assert tasks.queue(OFFICER) == []


def test_state_is_stored_without_the_spec(sample):
    row = start()
    import gzip
    import json
    state = json.loads(gzip.decompress(row.state))
    assert "spec" not in state and "subprocess_specs" not in state
    assert len(row.state) < 4000


def test_the_whole_path_completes_and_keeps_the_decision(sample):
    row = start()
    task = open_task(row.id)
    tasks.claim(task.id, OFFICER)
    tasks.complete(task.id, OFFICER, {"decision": "reject", "comment": "scores too low"})
    done = instances.get(row.id)
    assert done.status == "completed"
    workflow = instances.peek(done)
    assert workflow.data["review"] == {"decision": "reject", "comment": "scores too low"}
    assert workflow.data["recorded"] == {"decision": "reject"}
    assert tasks.get(task.id).status == "completed" and tasks.get(task.id).completed_by == "aigul"


def test_state_survives_a_restart_of_the_application_between_steps(sample):
    row_id = start().id
    task_id = open_task(row_id).id
    tasks.claim(task_id, OFFICER)
    db.session.remove()
    instances.live_workflows().clear()
    definitions._SPEC_CACHE.clear()
    restarted = create_app(make_config())
    with restarted.app_context():
        tasks.complete(task_id, OFFICER, {"decision": "approve"})
        assert instances.get(row_id).status == "completed"
        db.session.remove()
        db.engine.dispose()


def test_two_concurrent_completions_of_one_task_exactly_one_wins(sample):
    row_id = start().id
    task_id = open_task(row_id).id
    tasks.claim(task_id, OFFICER)
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes = []

    def complete():
        with sample.app_context():
            barrier.wait()
            try:
                tasks.complete(task_id, OFFICER, {"decision": "approve"})
                outcomes.append("completed")
            except Conflict:
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=complete) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["completed", "conflict"]
    completions = [e for e in audit.trail(row_id) if e.event == "task_completed"]
    assert len(completions) == 1


def test_a_stale_writer_gets_a_conflict_not_a_silent_overwrite(sample):
    row = start()
    instances.live_workflows().clear()
    with pytest.raises(Conflict):
        with instances.step(row.id, "first") as (first_row, _):
            # Another writer commits a new version of the same instance meanwhile.
            db.session.execute(sa.update(instances.ProcessInstance).where(
                instances.ProcessInstance.id == row.id).values(version=first_row.version + 1)
                .execution_options(synchronize_session=False))
    assert instances.get(row.id).status == "in_progress"


def test_an_officer_of_another_region_or_role_cannot_see_or_claim_the_task(sample):
    task_id = open_task(start().id).id
    assert tasks.queue(FOREIGN_OFFICER) == []
    assert tasks.queue(SUPERVISOR) == []
    for actor in (FOREIGN_OFFICER, SUPERVISOR):
        with pytest.raises(NotFound):
            tasks.claim(task_id, actor)
    assert tasks.get(task_id).assignee is None


def test_a_task_claimed_by_one_officer_cannot_be_claimed_or_completed_by_another(sample):
    task_id = open_task(start().id).id
    tasks.claim(task_id, OFFICER)
    with pytest.raises(Conflict, match="already claimed by aigul"):
        tasks.claim(task_id, OTHER_OFFICER)
    with pytest.raises(Forbidden):
        tasks.complete(task_id, OTHER_OFFICER, {"decision": "approve"})
    with pytest.raises(Forbidden):
        tasks.unclaim(task_id, OTHER_OFFICER)
    assert tasks.get(task_id).status == "ready"


def test_completing_requires_a_claim_and_an_unclaimed_task_returns_to_the_queue(sample):
    task_id = open_task(start().id).id
    with pytest.raises(Forbidden, match="claim the task"):
        tasks.complete(task_id, OFFICER, {"decision": "approve"})
    tasks.claim(task_id, OFFICER)
    tasks.unclaim(task_id, OFFICER)
    assert [t.id for t in tasks.queue(OTHER_OFFICER, unassigned=True)] == [task_id]


def test_a_completed_task_cannot_be_completed_again(sample):
    task_id = open_task(start().id).id
    tasks.claim(task_id, OFFICER)
    tasks.complete(task_id, OFFICER, {"decision": "approve"})
    with pytest.raises(Conflict):
        tasks.complete(task_id, OFFICER, {"decision": "approve"})
    with pytest.raises(Conflict):
        tasks.claim(task_id, OTHER_OFFICER)


@pytest.mark.parametrize("submitted, field", [
    ({}, "decision"),
    ({"decision": "maybe"}, "decision"),
    ({"decision": "reject"}, "comment"),
    ({"decision": "approve", "colour": "red"}, ""),
])
def test_form_errors_name_the_field_and_change_nothing(sample, submitted, field):
    row = start()
    task_id = open_task(row.id).id
    tasks.claim(task_id, OFFICER)
    version = instances.get(row.id).version
    with pytest.raises(InvalidData) as caught:
        tasks.complete(task_id, OFFICER, submitted)
    assert field in caught.value.errors
    assert tasks.get(task_id).status == "ready"
    assert instances.get(row.id).version == version


def test_queue_is_sorted_by_deadline_and_lists_without_loading_workflows(sample, monkeypatch):
    later = start()
    sooner = instances.start("sample_review", {"subject": "s", "scores": {"a": 1, "b": 1, "c": 1},
                                               "region": "AST",
                                               "deadlines": {"review": {"due_at": "2026-06-10T23:59:59+05:00"}}})
    monkeypatch.setattr(instances, "load", lambda *a: pytest.fail("listing loaded a workflow"))
    queue = tasks.queue(OFFICER)
    assert [t.instance_id for t in queue] == [sooner.id, later.id]


def test_instance_data_with_reserved_keys_is_refused_and_no_instance_exists(sample):
    with pytest.raises(InvalidData):
        instances.start("sample_review", {"__builtins__": {}, "scores": {"a": 1, "b": 1, "c": 1}})
    assert db.session.execute(sa.select(sa.func.count()).select_from(instances.ProcessInstance)).scalar() == 0


def test_a_failing_handler_after_a_completed_task_keeps_the_completion_as_an_incident(sample):
    row = start()
    task_id = open_task(row.id).id
    tasks.claim(task_id, OFFICER)
    sample.config["SAMPLE_RECORD_FAILS"] = True
    tasks.complete(task_id, OFFICER, {"decision": "approve"})
    failed = instances.get(row.id)
    assert failed.status == "incident"
    assert failed.incident_task_name == "Record the decision"
    assert failed.incident_error_type == "RuntimeError"
    assert "records office is closed" in failed.incident_message
    assert tasks.get(task_id).status == "completed"
    sample.config["SAMPLE_RECORD_FAILS"] = False
    instances.retry(row.id, "operator")
    assert instances.get(row.id).status == "completed"
    events = [e.event for e in audit.trail(row.id)]
    assert events[-3:] == ["incident_raised", "incident_retried", "instance_completed"]


def test_a_cancelled_instance_still_shows_the_data_it_reached(sample):
    row = start()
    instances.cancel(row.id, "portal", "withdrawn")
    data = instances.current_data(instances.peek(instances.get(row.id)))
    assert data["subject"] == "case" and data["score_a"] == 1


def test_a_reader_borrows_the_live_workflow_and_gives_it_back_for_the_next_step(sample):
    sample.config["WORKFLOW_CACHE_SIZE"] = 10  # on even where the run keeps no live workflows
    row = start()
    cache = instances.live_workflows()
    live = cache.take(row.id, row.version)
    assert live is not None
    cache.put(row.id, row.version, live, 10)
    with instances.looking_at(row) as seen:
        assert seen is live  # the step's own workflow: no restore from the stored state
        assert cache.take(row.id, row.version) is None  # out of the cache while it is read
    assert cache.take(row.id, row.version) is live  # back for the next step
    cache.put(row.id, row.version, live, 10)
    # A step that runs meanwhile restores its own copy; its newer workflow is never replaced.
    task_id, read_version = open_task(row.id).id, row.version
    with instances.looking_at(row) as seen:
        assert seen is live
        tasks.claim(task_id, OFFICER)
        tasks.complete(task_id, OFFICER, {"decision": "approve"})
    done = instances.get(row.id)
    assert done.version > read_version and done.status == "completed"
    assert cache.take(row.id, read_version) is None


def test_a_reader_restores_the_state_when_the_cache_holds_no_live_copy(sample):
    row = start()
    instances.live_workflows().clear()
    with instances.looking_at(row) as seen:
        assert seen.data.get("collected") == instances.peek(row).data.get("collected")
        assert any(t.task_spec.bpmn_id == "review" for t in instances.all_tasks(seen)
                   if t.task_spec.manual)
    assert len(instances.live_workflows()) == 0  # a restored copy is not put in the cache
