"""Workers: what is done with a claimed job (engine/jobs.py holds the queue).

1. the operator is called with no transaction and no row lock open (`ctx.session` is None;
   `ctx.job_id` is the idempotency key the other system receives, the same on every attempt);
2. its result is applied in a new step of the instance under its optimistic lock: the applier
   the operator registered (which may write rows), the result into the task's data, the task
   completed, the job row deleted, the case run on to its next wait — one transaction.

A failure the operator declares retryable moves the job's due time on (exponential back-off,
never a sleep); when the attempts run out, or on any other failure, the task is marked failed
and the instance is an incident for an operator (`instances.retry` sets the task READY, which
writes a fresh job). A worker killed mid-job leaves its lease to expire; another takes the job
then and calls again with the same idempotency key, and only one application can succeed: it
must find the job still leased to itself and the task still STARTED.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import sqlalchemy as sa
from flask import current_app
from SpiffWorkflow.util.task import TaskState

from . import audit, clock, instances, jobs, operators, timers
from .db import db, is_postgres
from .exceptions import Conflict, NotFound

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What one pass did: jobs claimed, applied, rescheduled, failed into incidents, lost races."""

    claimed: int = 0
    applied: int = 0
    retrying: int = 0
    failed: int = 0
    lost: int = 0

    def __str__(self):
        return (f"claimed {self.claimed}, applied {self.applied}, retrying {self.retrying}, "
                f"failed {self.failed}, lost {self.lost}")


class JobLost(Exception):
    """The job is no longer this worker's (its lease ended and another took it, or it is done)."""




def run_due(limit: int | None = None, owner: str | None = None, batch: int = 10) -> RunResult:
    """Run the jobs that are due, at most `limit`, claiming `batch` at a time."""
    limit = current_app.config["JOB_BATCH_LIMIT"] if limit is None else limit
    owner = owner or timers.default_owner()
    result = RunResult()
    while result.claimed < limit:
        claimed = jobs.claim(min(batch, limit - result.claimed), owner)
        if not claimed:
            break
        result.claimed += len(claimed)
        for job_id in claimed:
            outcome = run_one(job_id, owner)
            setattr(result, outcome, getattr(result, outcome) + 1)
    return result




def run_one(job_id: str, owner: str) -> str:
    """Call a claimed job's operator, then apply its result or its failure; returns the outcome
    ("applied", "retrying", "failed" or "lost")."""
    job = db.session.get(jobs.Job, job_id)
    if job is None or job.lease_owner != owner:
        db.session.rollback()
        return "lost"
    snapshot = _Snapshot.of(job)
    db.session.rollback()  # no transaction stays open while the other system is called
    if snapshot.kind == jobs.CONTINUATION:
        return _continue(snapshot, owner)
    op = operators.get(snapshot.operator)
    started = time.monotonic()
    try:
        if op is None:
            raise LookupError(f"no handler is registered for operator {snapshot.operator!r}")
        ctx = operators.StepContext(session=None, config=current_app.config,
                                    instance_id=snapshot.instance_id, task_id=snapshot.task_id,
                                    actor=jobs.WORKER_ACTOR, job_id=snapshot.id,
                                    attempt=snapshot.attempts + 1)
        result = op.func(ctx, **snapshot.params)
        db.session.rollback()  # a simulator may have read reference data: end that read
        _observe(snapshot.operator, time.monotonic() - started, None)
    except Exception as err:
        db.session.rollback()
        _observe(snapshot.operator, time.monotonic() - started, err)
        log.warning("job %s (%s of instance %s) failed after %.2fs: %s: %s", snapshot.id,
                    snapshot.operator, snapshot.instance_id, time.monotonic() - started,
                    type(err).__name__, err)
        return _failed(snapshot, err, owner, retryable=op is not None and isinstance(err, op.retryable))
    try:
        _apply(snapshot, result, owner)
        return "applied"
    except (JobLost, Conflict, NotFound):
        db.session.rollback()
        _release(snapshot.id, owner)
        return "lost"
    except Exception as err:  # the applier or the case's next tasks failed: an incident
        db.session.rollback()
        log.exception("job %s of instance %s could not be applied", snapshot.id, snapshot.instance_id)
        return _failed(snapshot, err, owner, retryable=False)




@dataclass(frozen=True)
class _Snapshot:
    id: str
    kind: str
    instance_id: str
    task_id: str
    bpmn_id: str
    operator: str
    params: dict
    result_variable: str
    attempts: int
    max_attempts: int

    @classmethod
    def of(cls, job: jobs.Job) -> "_Snapshot":
        return cls(job.id, job.kind, job.instance_id, job.task_id, job.bpmn_id, job.operator, dict(job.params),
                   job.result_variable, job.attempts, job.max_attempts)


def _apply(job: _Snapshot, result, owner: str) -> None:
    with instances.step(job.instance_id, actor=jobs.WORKER_ACTOR) as (row, workflow):
        _hold(job, owner)
        task = _started_task(workflow, job)
        applier = operators.applier(job.operator)
        if applier is not None:
            ctx = operators.StepContext(session=db.session, config=current_app.config,
                                        instance_id=row.id, process_id=row.process_id,
                                        task_id=job.task_id, actor=jobs.WORKER_ACTOR, data=task.data,
                                        job_id=job.id, attempt=job.attempts + 1)
            with db.session.begin_nested():
                result = applier(ctx, result, **job.params)
        task.data[job.result_variable] = json.loads(json.dumps(result, default=jobs.json_safe))
        task.complete()
        db.session.execute(sa.delete(jobs.Job).where(jobs.Job.id == job.id).execution_options(synchronize_session=False))
        audit.record("job_completed", actor=jobs.WORKER_ACTOR, instance_id=row.id, task_id=job.task_id,
                     details={"job_id": job.id, "operator": job.operator, "attempt": job.attempts + 1})


def _continue(job: _Snapshot, owner: str) -> str:
    """A continuation: release the task and run the case on from it, in this worker's step."""
    try:
        with instances.step(job.instance_id, actor=jobs.WORKER_ACTOR) as (row, workflow):
            _hold(job, owner)
            task = _started_task(workflow, job)
            task.internal_data[jobs.RELEASED] = True
            task._set_state(TaskState.READY)
            db.session.execute(sa.delete(jobs.Job).where(jobs.Job.id == job.id).execution_options(synchronize_session=False))
        return "applied"
    except (JobLost, Conflict, NotFound):
        db.session.rollback()
        _release(job.id, owner)
        return "lost"
    except instances.StepBudgetExceeded as err:
        # The run was undone and the instance is an incident; an operator's retry requeues this.
        db.session.execute(sa.update(jobs.Job).where(jobs.Job.id == job.id)
                           .values(status=jobs.FAILED, last_error=str(err)[:4000], lease_owner=None, lease_until=None)
                           .execution_options(synchronize_session=False))
        db.session.commit()
        return "failed"
    except Exception as err:
        db.session.rollback()
        log.exception("continuation %s of instance %s failed", job.id, job.instance_id)
        return _failed(job, err, owner, retryable=False)


def _failed(job: _Snapshot, err: BaseException, owner: str, retryable: bool) -> str:
    """Move the job's due time on, or, with no attempts left, make the case an incident."""
    attempts = job.attempts + 1
    message = f"{type(err).__name__}: {err}"[:4000]
    now = clock.now()
    config = current_app.config
    if retryable and attempts < job.max_attempts:
        delay = min(float(config["JOB_BACKOFF_SECONDS"]) * (2 ** (attempts - 1)),
                    float(config["JOB_BACKOFF_MAX_SECONDS"]))
        done = db.session.execute(
            sa.update(jobs.Job).where(jobs.Job.id == job.id, jobs.Job.lease_owner == owner)
            .values(attempts=attempts, last_error=message, due_at=now + timedelta(seconds=delay),
                    lease_owner=None, lease_until=None, updated_at=now)
            .execution_options(synchronize_session=False))
        audit.record("job_retry_scheduled", actor=jobs.WORKER_ACTOR, instance_id=job.instance_id,
                     task_id=job.task_id, details={"job_id": job.id, "operator": job.operator,
                                                   "attempt": attempts, "error": message,
                                                   "next_attempt_in_seconds": delay})
        db.session.commit()
        return "retrying" if done.rowcount == 1 else "lost"
    try:
        with instances.step(job.instance_id, actor=jobs.WORKER_ACTOR) as (row, workflow):
            _hold(job, owner)
            task = _started_task(workflow, job)
            task._set_state(TaskState.ERROR)
            detail = (f"{job.operator} failed after {attempts} attempt(s): {message}" if retryable
                      else f"{job.operator}: {message}")
            instances.mark_incident(row, task, type(err).__name__, detail, jobs.WORKER_ACTOR)
            db.session.execute(
                sa.update(jobs.Job).where(jobs.Job.id == job.id)
                .values(status=jobs.FAILED, attempts=attempts, last_error=message, lease_owner=None,
                        lease_until=None, updated_at=now)
                .execution_options(synchronize_session=False))
        return "failed"
    except (JobLost, Conflict, NotFound):
        db.session.rollback()
        _release(job.id, owner)
        return "lost"


def _hold(job: _Snapshot, owner: str) -> None:
    """Inside the applying step: the job must still be this worker's (locked till commit on PostgreSQL)."""
    query = sa.select(jobs.Job.lease_owner, jobs.Job.status).where(jobs.Job.id == job.id)
    if is_postgres():
        query = query.with_for_update()
    found = db.session.execute(query).first()
    if found is None or found.lease_owner != owner or found.status != jobs.PENDING:
        raise JobLost(f"job {job.id} is no longer leased to {owner}")


def _started_task(workflow, job: _Snapshot):
    key = UUID(job.task_id)
    for tasks in (workflow.tasks, *(sub.tasks for sub in workflow.subprocesses.values())):
        task = tasks.get(key)
        if task is not None:
            if task.state != TaskState.STARTED:
                raise JobLost(f"task {job.bpmn_id} of instance {job.instance_id} no longer waits for its job")
            return task
    raise JobLost(f"instance {job.instance_id} has no task {job.task_id}")


def _release(job_id: str, owner: str) -> None:
    db.session.execute(sa.update(jobs.Job).where(jobs.Job.id == job_id, jobs.Job.lease_owner == owner)
                       .values(lease_owner=None, lease_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _observe(operator_name: str, seconds: float, error) -> None:
    """Tell the observers of external calls (metrics) how one went; never fails the job."""
    for observe in jobs.CALL_OBSERVERS:
        try:
            observe(operator_name, seconds, error)
        except Exception:
            log.exception("an external-call observer failed")
