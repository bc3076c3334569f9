"""Jobs: work a step must not do inside a client's request, done afterwards by workers.

A service task whose operator is `external` (it calls the police, ЕСУТД, ...) does not run in
the step that reaches it: the step leaves the task STARTED, writes a job row and commits, so
the client's request answers as soon as the case is durably accepted. A worker then:

1. claims due jobs with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a conditional update
   on both), committing the claim;
2. calls the operator with no transaction and no row lock open (`ctx.session` is None;
   `ctx.job_id` is the idempotency key the other system receives, the same on every attempt);
3. applies the result in a new step of the instance under its optimistic lock: the applier
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
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from SpiffWorkflow.util.task import TaskState

from . import audit, clock, operators
from .db import UTCDateTime, db, is_postgres
from .exceptions import Conflict, NotFound
from .script_engine import json_default as _json_default

log = logging.getLogger(__name__)

SERVICE_TASK = "service_task"   # call an external operator, then complete the task with its result
CONTINUATION = "continuation"   # run the task (marked asyncBefore) and what follows, in a worker
RELEASED = "async_released"     # task.internal_data flag: the continuation's step may run the task
PENDING, FAILED = "pending", "failed"
WORKER_ACTOR = "worker"

# Set when a step commits new jobs, so an idle worker thread in this process starts at once.
_WAKE = threading.Event()


class Job(db.Model):
    __tablename__ = "job"
    __table_args__ = (sa.Index("ix_job_due", "status", "due_at"),)

    id = sa.Column(sa.String(36), primary_key=True)
    kind = sa.Column(sa.String(30), nullable=False)
    instance_id = sa.Column(sa.String(36), nullable=False, index=True)
    task_id = sa.Column(sa.String(36), nullable=False, unique=True)
    bpmn_id = sa.Column(sa.String(200), nullable=False)
    operator = sa.Column(sa.String(200), nullable=False)
    params = sa.Column(sa.JSON, nullable=False)
    result_variable = sa.Column(sa.String(200), nullable=False)
    status = sa.Column(sa.String(10), nullable=False)
    attempts = sa.Column(sa.Integer, nullable=False)
    max_attempts = sa.Column(sa.Integer, nullable=False)
    due_at = sa.Column(UTCDateTime, nullable=False)
    lease_owner = sa.Column(sa.String(200))
    lease_until = sa.Column(UTCDateTime)
    last_error = sa.Column(sa.Text)
    created_at = sa.Column(UTCDateTime, nullable=False)
    updated_at = sa.Column(UTCDateTime, nullable=False)

    def as_dict(self) -> dict:
        iso = lambda v: v.isoformat() if v else None  # noqa: E731
        return {"id": self.id, "kind": self.kind, "instance_id": self.instance_id,
                "task_id": self.task_id, "bpmn_id": self.bpmn_id, "operator": self.operator,
                "status": self.status, "attempts": self.attempts, "max_attempts": self.max_attempts,
                "due_at": iso(self.due_at), "lease_owner": self.lease_owner,
                "lease_until": iso(self.lease_until), "last_error": self.last_error,
                "created_at": iso(self.created_at)}


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


def defer(task, operator_name: str, params: dict, result_variable: str, kind: str = SERVICE_TASK) -> Job:
    """Write the job that runs `operator_name` for `task` (called inside the step that reached it)."""
    from .script_engine import current_step
    step = current_step.get()
    if step is None or step.instance_id is None:
        raise RuntimeError("an external operator is deferred only inside an engine step")
    config = step.config
    op = operators.get(operator_name)
    now = clock.now()
    task_id = str(task.id)
    # A retried task writes a new job; the failed one it replaces goes.
    step.session.execute(sa.delete(Job).where(Job.task_id == task_id)
                         .execution_options(synchronize_session=False))
    job = Job(id=str(uuid.uuid4()), kind=kind, instance_id=step.instance_id, task_id=task_id,
              bpmn_id=task.task_spec.bpmn_id, operator=operator_name,
              params=json.loads(json.dumps(params, default=_json_default)),
              result_variable=result_variable, status=PENDING, attempts=0,
              max_attempts=max_attempts(op, config) if kind == SERVICE_TASK else 1,
              due_at=now, created_at=now, updated_at=now)
    step.session.add(job)
    step.new_jobs += 1
    return job


def max_attempts(op, config) -> int:
    if op is not None and op.retryable:
        return int(config["JOB_MAX_ATTEMPTS"])
    return 1


def wake() -> None:
    _WAKE.set()


def wait_for_work(timeout: float) -> None:
    """Sleep until a step of this process writes a job, or `timeout` seconds."""
    if _WAKE.wait(timeout):
        _WAKE.clear()


def run_due(limit: int | None = None, owner: str | None = None, batch: int = 10) -> RunResult:
    """Run the jobs that are due, at most `limit`, claiming `batch` at a time."""
    from .timers import default_owner
    limit = current_app.config["JOB_BATCH_LIMIT"] if limit is None else limit
    owner = owner or default_owner()
    result = RunResult()
    while result.claimed < limit:
        claimed = claim(min(batch, limit - result.claimed), owner)
        if not claimed:
            break
        result.claimed += len(claimed)
        for job_id in claimed:
            outcome = run_one(job_id, owner)
            setattr(result, outcome, getattr(result, outcome) + 1)
    return result


def claim(n: int, owner: str) -> list[str]:
    """Lease up to n due jobs to `owner` and commit; returns their ids."""
    now = clock.now()
    lease = timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"])
    free = sa.or_(Job.lease_until.is_(None), Job.lease_until < now)
    query = (sa.select(Job.id).where(Job.status == PENDING, Job.due_at <= now, free)
             .order_by(Job.due_at, Job.id).limit(n))
    if is_postgres():
        query = query.with_for_update(skip_locked=True)  # a second worker takes the next rows
    claimed = []
    try:
        for job_id in db.session.execute(query).scalars().all():
            done = db.session.execute(
                sa.update(Job).where(Job.id == job_id, Job.status == PENDING, free)
                .values(lease_owner=owner, lease_until=now + lease, updated_at=now)
                .execution_options(synchronize_session=False))
            if done.rowcount == 1:
                claimed.append(job_id)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return claimed


def run_one(job_id: str, owner: str) -> str:
    """Call a claimed job's operator, then apply its result or its failure; returns the outcome
    ("applied", "retrying", "failed" or "lost")."""
    job = db.session.get(Job, job_id)
    if job is None or job.lease_owner != owner:
        db.session.rollback()
        return "lost"
    snapshot = _Snapshot.of(job)
    db.session.rollback()  # no transaction stays open while the other system is called
    if snapshot.kind == CONTINUATION:
        return _continue(snapshot, owner)
    op = operators.get(snapshot.operator)
    started = time.monotonic()
    try:
        if op is None:
            raise LookupError(f"no handler is registered for operator {snapshot.operator!r}")
        ctx = operators.StepContext(session=None, config=current_app.config,
                                    instance_id=snapshot.instance_id, task_id=snapshot.task_id,
                                    actor=WORKER_ACTOR, job_id=snapshot.id,
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


CALL_OBSERVERS: list = []  # callables(operator, seconds, error or None): metrics of external calls


def _observe(operator_name: str, seconds: float, error) -> None:
    for observe in CALL_OBSERVERS:
        try:
            observe(operator_name, seconds, error)
        except Exception:  # a metric must never fail a job
            log.exception("an external-call observer failed")


def for_instance(instance_id: str) -> list[Job]:
    return list(db.session.execute(sa.select(Job).filter_by(instance_id=instance_id)
                                   .order_by(Job.created_at)).scalars())


def pending_for(instance_id: str) -> bool:
    """Does the instance have a job still to run (not one that failed into an incident)?"""
    return db.session.execute(sa.select(Job.id).where(Job.instance_id == instance_id, Job.status == PENDING)
                              .limit(1)).first() is not None


def due(limit: int = 100) -> list[Job]:
    return list(db.session.execute(
        sa.select(Job).where(Job.status == PENDING).order_by(Job.due_at, Job.id).limit(limit)).scalars())


def cancel_for_instance(instance_id: str) -> None:
    """The instance ended where it stood (cancelled): its jobs go with it."""
    db.session.execute(sa.delete(Job).where(Job.instance_id == instance_id)
                       .execution_options(synchronize_session=False))


def cancel_for_tasks(instance_id: str, task_ids) -> None:
    """Tasks removed from a case (moved back past them): their jobs go with them."""
    ids = [str(t) for t in task_ids]
    if ids:
        db.session.execute(sa.delete(Job).where(Job.instance_id == instance_id, Job.task_id.in_(ids))
                           .execution_options(synchronize_session=False))


# --- helpers ---------------------------------------------------------------------------------

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
    def of(cls, job: Job) -> "_Snapshot":
        return cls(job.id, job.kind, job.instance_id, job.task_id, job.bpmn_id, job.operator, dict(job.params),
                   job.result_variable, job.attempts, job.max_attempts)


def _apply(job: _Snapshot, result, owner: str) -> None:
    from . import instances
    with instances.step(job.instance_id, actor=WORKER_ACTOR) as (row, workflow):
        _hold(job, owner)
        task = _started_task(workflow, job)
        applier = operators.applier(job.operator)
        if applier is not None:
            ctx = operators.StepContext(session=db.session, config=current_app.config,
                                        instance_id=row.id, process_id=row.process_id,
                                        task_id=job.task_id, actor=WORKER_ACTOR, data=task.data,
                                        job_id=job.id, attempt=job.attempts + 1)
            with db.session.begin_nested():
                result = applier(ctx, result, **job.params)
        task.data[job.result_variable] = json.loads(json.dumps(result, default=_json_default))
        task.complete()
        db.session.execute(sa.delete(Job).where(Job.id == job.id).execution_options(synchronize_session=False))
        audit.record("job_completed", actor=WORKER_ACTOR, instance_id=row.id, task_id=job.task_id,
                     details={"job_id": job.id, "operator": job.operator, "attempt": job.attempts + 1})


def _continue(job: _Snapshot, owner: str) -> str:
    """A continuation: release the task and run the case on from it, in this worker's step."""
    from . import instances
    try:
        with instances.step(job.instance_id, actor=WORKER_ACTOR) as (row, workflow):
            _hold(job, owner)
            task = _started_task(workflow, job)
            task.internal_data[RELEASED] = True
            task._set_state(TaskState.READY)
            db.session.execute(sa.delete(Job).where(Job.id == job.id).execution_options(synchronize_session=False))
        return "applied"
    except (JobLost, Conflict, NotFound):
        db.session.rollback()
        _release(job.id, owner)
        return "lost"
    except instances.StepBudgetExceeded as err:
        # The run was undone and the instance is an incident; an operator's retry requeues this.
        db.session.execute(sa.update(Job).where(Job.id == job.id)
                           .values(status=FAILED, last_error=str(err)[:4000], lease_owner=None, lease_until=None)
                           .execution_options(synchronize_session=False))
        db.session.commit()
        return "failed"
    except Exception as err:
        db.session.rollback()
        log.exception("continuation %s of instance %s failed", job.id, job.instance_id)
        return _failed(job, err, owner, retryable=False)


def _failed(job: _Snapshot, err: BaseException, owner: str, retryable: bool) -> str:
    """Move the job's due time on, or, with no attempts left, make the case an incident."""
    from . import instances
    attempts = job.attempts + 1
    message = f"{type(err).__name__}: {err}"[:4000]
    now = clock.now()
    config = current_app.config
    if retryable and attempts < job.max_attempts:
        delay = min(float(config["JOB_BACKOFF_SECONDS"]) * (2 ** (attempts - 1)),
                    float(config["JOB_BACKOFF_MAX_SECONDS"]))
        done = db.session.execute(
            sa.update(Job).where(Job.id == job.id, Job.lease_owner == owner)
            .values(attempts=attempts, last_error=message, due_at=now + timedelta(seconds=delay),
                    lease_owner=None, lease_until=None, updated_at=now)
            .execution_options(synchronize_session=False))
        audit.record("job_retry_scheduled", actor=WORKER_ACTOR, instance_id=job.instance_id,
                     task_id=job.task_id, details={"job_id": job.id, "operator": job.operator,
                                                   "attempt": attempts, "error": message,
                                                   "next_attempt_in_seconds": delay})
        db.session.commit()
        return "retrying" if done.rowcount == 1 else "lost"
    try:
        with instances.step(job.instance_id, actor=WORKER_ACTOR) as (row, workflow):
            _hold(job, owner)
            task = _started_task(workflow, job)
            task._set_state(TaskState.ERROR)
            detail = (f"{job.operator} failed after {attempts} attempt(s): {message}" if retryable
                      else f"{job.operator}: {message}")
            instances.mark_incident(row, task, type(err).__name__, detail, WORKER_ACTOR)
            db.session.execute(
                sa.update(Job).where(Job.id == job.id)
                .values(status=FAILED, attempts=attempts, last_error=message, lease_owner=None,
                        lease_until=None, updated_at=now)
                .execution_options(synchronize_session=False))
        return "failed"
    except (JobLost, Conflict, NotFound):
        db.session.rollback()
        _release(job.id, owner)
        return "lost"


def _hold(job: _Snapshot, owner: str) -> None:
    """Inside the applying step: the job must still be this worker's (locked till commit on PostgreSQL)."""
    query = sa.select(Job.lease_owner, Job.status).where(Job.id == job.id)
    if is_postgres():
        query = query.with_for_update()
    found = db.session.execute(query).first()
    if found is None or found.lease_owner != owner or found.status != PENDING:
        raise JobLost(f"job {job.id} is no longer leased to {owner}")


def _started_task(workflow, job: _Snapshot):
    from uuid import UUID
    key = UUID(job.task_id)
    for tasks in (workflow.tasks, *(sub.tasks for sub in workflow.subprocesses.values())):
        task = tasks.get(key)
        if task is not None:
            if task.state != TaskState.STARTED:
                raise JobLost(f"task {job.bpmn_id} of instance {job.instance_id} no longer waits for its job")
            return task
    raise JobLost(f"instance {job.instance_id} has no task {job.task_id}")


def _release(job_id: str, owner: str) -> None:
    db.session.execute(sa.update(Job).where(Job.id == job_id, Job.lease_owner == owner)
                       .values(lease_owner=None, lease_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()



def requeue_failed(instance_id: str) -> int:
    """An operator retries the incident: failed jobs whose task still waits run again, afresh."""
    now = clock.now()
    done = db.session.execute(
        sa.update(Job).where(Job.instance_id == instance_id, Job.status == FAILED)
        .values(status=PENDING, attempts=0, due_at=now, lease_owner=None, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False))
    if done.rowcount:
        from .script_engine import current_step
        step = current_step.get()
        if step is not None:
            step.new_jobs += done.rowcount
    return done.rowcount
