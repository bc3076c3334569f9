"""Jobs: work a step must not do inside a client's request, queued for workers.

A service task whose operator is `external` (it calls the police, ЕСУТД, ...) does not run in
the step that reaches it: the step leaves the task STARTED, writes a job row (`defer`) and
commits, so the client's request answers as soon as the case is durably accepted. A task
marked `asyncBefore` writes a continuation job the same way (engine/specs.py).

This module is the queue: the job rows, their leases (`claim`: `FOR UPDATE SKIP LOCKED` on
PostgreSQL, a conditional update on both) and what an instance's own steps do to its jobs
(cancel with the instance, requeue on an operator's retry). What a worker does with a claimed
job (call the operator with no transaction open, apply the result in a new step, back off or
raise an incident) is engine/workers.py; a worker process is engine/scheduler.py.
"""
from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from . import clock, leases, operators
from .db import UTCDateTime, db
from .script_engine import json_default as json_safe  # what operator results and job parameters hold

SERVICE_TASK = "service_task"   # call an external operator, then complete the task with its result
CONTINUATION = "continuation"   # run the task (marked asyncBefore) and what follows, in a worker
RELEASED = "async_released"     # task.internal_data flag: the continuation's step may run the task
PENDING, FAILED = "pending", "failed"
WORKER_ACTOR = "worker"

CALL_OBSERVERS: list = []  # callables(operator, seconds, error or None): metrics of external calls

# Set when a step commits new jobs, so an idle worker thread in this process starts at once.
_WAKE = threading.Event()


class Job(db.Model):
    __tablename__ = "job"
    # The workers' order (due time, then id) with the lease beside it: no sort of tied due times.
    __table_args__ = (sa.Index("ix_job_due", "status", "due_at", "id", "lease_until"),)

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
              params=json.loads(json.dumps(params, default=json_safe)),
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


def claim(n: int, owner: str) -> list[str]:
    """Lease up to n due jobs to `owner` and commit; returns their ids."""
    now = clock.now()
    rows = leases.take(Job, (Job.id,), (Job.status == PENDING, Job.due_at <= now), (Job.due_at, Job.id), n, owner,
                       now, timedelta(seconds=current_app.config["JOB_LEASE_SECONDS"]),
                       still=(Job.status == PENDING,), values={"updated_at": now})
    return [row.id for row in rows]


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



def cancel_for_tasks(instance_id: str, task_ids) -> None:
    """Tasks removed from a case (moved back past them): their jobs go with them."""
    ids = [str(t) for t in task_ids]
    if ids:
        db.session.execute(sa.delete(Job).where(Job.instance_id == instance_id, Job.task_id.in_(ids))
                           .execution_options(synchronize_session=False))
