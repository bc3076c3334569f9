"""Timers: every waiting timer event as an indexed row, and the sweep that fires the due ones.

The index is derived from the workflow whenever an instance is saved (`sync`), in the same
transaction, so finding due timers is one indexed query that never deserializes a workflow.
A sweep (`run_due`) claims due rows with a lease, then runs one engine step per instance
(`instances.step`, whose advance refreshes timers and runs on). A timer fires exactly once:
the lease keeps sweepers apart and the instance's optimistic lock settles any race that is
left (the loser gets Conflict and rolls back). A sweeper that dies holding a lease leaves it
to expire; another sweeper takes the row then.

Every "now" is `clock.now()`, as SpiffWorkflow's own `datetime.now(timezone.utc)`; never the
database's.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from uuid import UUID

import sqlalchemy as sa
from flask import current_app
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState

from . import audit, clock, instances, leases
from .db import UTCDateTime, db
from .exceptions import Conflict, NotFound

log = logging.getLogger(__name__)

TIMER_FIRED, TIMER_CANCELLED = "timer_fired", "timer_cancelled"
TIMER_ACTOR = "timer"
_RUNNING = instances.IN_PROGRESS  # only running instances keep timer rows
_FIRED_STATES = TaskState.READY | TaskState.STARTED | TaskState.COMPLETED | TaskState.ERROR


class Timer(db.Model):
    __tablename__ = "timer"
    # The sweep's order (due time, then id) with the lease beside it: no sort of tied due times.
    __table_args__ = (sa.Index("ix_timer_due", "due_at", "id", "lease_until"),)

    id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    instance_id = sa.Column(sa.String(36), sa.ForeignKey("process_instance.id"), nullable=False,
                            index=True)
    task_id = sa.Column(sa.String(36), nullable=False, unique=True)
    bpmn_id = sa.Column(sa.String(200), nullable=False)
    due_at = sa.Column(UTCDateTime, nullable=False)
    lease_owner = sa.Column(sa.String(200))
    lease_until = sa.Column(UTCDateTime)
    created_at = sa.Column(UTCDateTime, nullable=False)

    def as_dict(self):
        iso = lambda v: v.isoformat() if v else None  # noqa: E731
        return {"id": self.id, "instance_id": self.instance_id, "task_id": self.task_id,
                "bpmn_id": self.bpmn_id, "due_at": iso(self.due_at),
                "lease_owner": self.lease_owner, "lease_until": iso(self.lease_until),
                "created_at": iso(self.created_at)}


@dataclass
class SweepResult:
    """What one sweep did: rows claimed, timers fired, steps lost to another writer, failures."""

    claimed: int = 0
    fired: int = 0
    conflicts: int = 0
    failed: int = 0

    def __str__(self):
        return (f"claimed {self.claimed}, fired {self.fired}, conflicts {self.conflicts}, "
                f"failed {self.failed}")


def sync(row, workflow, is_new: bool = False) -> None:
    """Make the index match the workflow: waiting timers in, fired or cancelled ones out (audited).

    Called by `instances.save()`. An instance that is not running (incident, terminated) keeps
    no rows: nothing would fire there, and the step that resumes it indexes its timers again.
    It compares with what the index held when the workflow was loaded (`remember_snapshot`),
    so a step writes only what changed and never reads the index back.
    """
    waiting = dict(_waiting_timers(workflow))
    stored = {} if is_new else _snapshot(row, workflow)
    running = row.status == _RUNNING
    now = clock.now()
    for task_id, (bpmn_id, stored_due) in stored.items():
        if task_id in waiting and running:
            due = waiting[task_id][1]
            if due != stored_due:
                if stored_due < due and stored_due < now:  # a cycle timer moved on to its next due time
                    _record(TIMER_FIRED, row, task_id, bpmn_id, stored_due, waiting[task_id][0])
                db.session.execute(sa.update(Timer).where(Timer.task_id == task_id)
                                   .values(due_at=due, lease_owner=None, lease_until=None)
                                   .execution_options(synchronize_session=False))
            continue
        if task_id not in waiting:
            task = _task(workflow, task_id)
            fired = task is not None and bool(task.state & _FIRED_STATES)
            _record(TIMER_FIRED if fired else TIMER_CANCELLED, row, task_id, bpmn_id, stored_due, task)
        db.session.execute(sa.delete(Timer).where(Timer.task_id == task_id)
                           .execution_options(synchronize_session=False))
    kept = {}
    if running:
        for task_id, (task, due) in waiting.items():
            kept[task_id] = (task.task_spec.bpmn_id, due)
            if task_id not in stored:
                db.session.add(Timer(instance_id=row.id, task_id=task_id, bpmn_id=task.task_spec.bpmn_id,
                                     due_at=due, created_at=now))
    workflow.indexed_timers = kept


def remember_snapshot(workflow, row) -> None:
    """Called on load: a saved running workflow's index rows are exactly its waiting timers."""
    workflow.indexed_timers = ({task_id: (task.task_spec.bpmn_id, due)
                                for task_id, (task, due) in _waiting_timers(workflow)}
                               if row.status == _RUNNING else {})


def _snapshot(row, workflow) -> dict:
    known = getattr(workflow, "indexed_timers", None)
    if known is not None:
        return dict(known)
    return {t.task_id: (t.bpmn_id, t.due_at) for t in db.session.execute(
        sa.select(Timer).filter_by(instance_id=row.id)).scalars()}


def run_due(limit: int | None = None, owner: str | None = None, batch: int = 20) -> SweepResult:
    """Fire the timers that are due, at most `limit` of them, each exactly once.

    Claims `batch` rows at a time (so two sweepers share the work), and runs one step per
    claimed row's instance. A Conflict (another writer changed the instance first) releases
    the row for the next sweep; another failure leaves the lease to expire, a back-off.
    """
    limit = current_app.config.get("SWEEP_LIMIT", 500) if limit is None else limit
    owner = owner or default_owner()
    lease = timedelta(seconds=current_app.config["TIMER_LEASE_SECONDS"])
    result = SweepResult()
    seen: set[int] = set()  # a row released after a conflict waits for the next sweep
    while result.claimed < limit:
        claimed = claim_due(min(batch, limit - result.claimed), owner, lease, exclude=seen)
        if not claimed:
            break
        result.claimed += len(claimed)
        for timer in claimed:
            seen.add(timer.id)
            outcome, fired = _fire(timer, owner)
            result.fired += fired
            if outcome == "conflict":
                result.conflicts += 1
            elif outcome == "failed":
                result.failed += 1
    return result


def claim_due(n: int, owner: str, lease: timedelta, exclude=()) -> list:
    """Lease up to n due rows to `owner` and commit; returns (id, instance_id, task_id, bpmn_id, due_at)."""
    now = clock.now()
    where = [Timer.due_at < now] + ([Timer.id.not_in(exclude)] if exclude else [])
    return leases.take(Timer, (Timer.id, Timer.instance_id, Timer.task_id, Timer.bpmn_id, Timer.due_at), where,
                       (Timer.due_at, Timer.id), n, owner, now, lease)


def due(limit: int = 100) -> list[Timer]:
    """The timers due now, soonest first (leased or not); reads only the index."""
    return list(db.session.execute(
        sa.select(Timer).where(Timer.due_at < clock.now()).order_by(Timer.due_at, Timer.id)
        .limit(limit)).scalars())


def upcoming(limit: int = 100, instance_id: str | None = None) -> list[Timer]:
    """Waiting timers, soonest first; reads only the index."""
    query = sa.select(Timer).order_by(Timer.due_at, Timer.id).limit(limit)
    if instance_id:
        query = query.where(Timer.instance_id == instance_id)
    return list(db.session.execute(query).scalars())


def default_owner() -> str:
    """Who holds a lease: host, process and thread, so a log line names the sweeper."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


# --- helpers ---------------------------------------------------------------------------------

def _fire(timer, owner: str) -> tuple[str, int]:
    """One step of the timer's instance: (outcome, how many of its timers fired)."""
    if db.session.execute(sa.select(Timer.id).where(Timer.id == timer.id)).scalar() is None:
        db.session.rollback()
        return "gone", 0  # the step of another timer of the same instance fired or cancelled it
    try:
        with instances.step(timer.instance_id, actor=TIMER_ACTOR) as (_row, workflow):
            waiting = [task for _, (task, _due) in _waiting_timers(workflow)]
        return "stepped", sum(1 for task in waiting if task.state & _FIRED_STATES)
    except Conflict:
        _release(timer.id, owner)
        return "conflict", 0
    except NotFound:
        db.session.execute(sa.delete(Timer).where(Timer.id == timer.id))
        db.session.commit()
        return "gone", 0
    except Exception:
        db.session.rollback()
        log.exception("timer %s (%s) of instance %s failed to fire; retried when its lease ends",
                      timer.bpmn_id, timer.task_id, timer.instance_id)
        return "failed", 0


def _release(timer_id: int, owner: str) -> None:
    db.session.execute(sa.update(Timer).where(Timer.id == timer_id, Timer.lease_owner == owner)
                       .values(lease_owner=None, lease_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _record(event: str, row, task_id: str, bpmn_id: str, due_at, task) -> None:
    """A timer's event names its element (`bpmn_id`; its name is the diagram's, read with it)
    and when it was due; the task's id is the engine's own, gone once the instance is compacted."""
    audit.record(event, actor=TIMER_ACTOR, instance_id=row.id, details={
        "bpmn_id": bpmn_id, "due_at": due_at.isoformat()})


def _waiting_timers(workflow):
    """(task id, (task, due time in UTC)) of every waiting timer event, by a flat scan."""
    for tasks in (workflow.tasks, *(sub.tasks for sub in workflow.subprocesses.values())):
        for task in tasks.values():
            if task.state != TaskState.WAITING:
                continue
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(definition, TimerEventDefinition):
                continue
            due_time = _due_time(definition, task)
            if due_time is not None:
                yield str(task.id), (task, due_time)


def _due_time(definition, task) -> datetime | None:
    # The value SpiffWorkflow itself compares with its clock, parsed the way it parses it.
    value = definition.details(task).value
    try:
        if isinstance(value, datetime):
            parsed = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        else:
            parsed = TimerEventDefinition.parse_time_or_duration(value)
    except Exception:  # the engine's own refresh reports a bad value as an incident
        parsed = None
    if not isinstance(parsed, datetime):
        log.warning("timer %s (%s) has no due time: %r", task.task_spec.bpmn_id, task.id, value)
        return None
    return parsed.astimezone(timezone.utc)


def _task(workflow, task_id: str):
    key = UUID(task_id)
    for tasks in (workflow.tasks, *(sub.tasks for sub in workflow.subprocesses.values())):
        if key in tasks:
            return tasks[key]
    return None


instances.register_index(instances.Index(
    "timers", order=2, sync=sync, remember=lambda row, workflow: remember_snapshot(workflow, row)))
