"""Incidents as an operator handles them: what failed, the likely fix, the failed task's input,
and retries of one case, of chosen cases or of every case stopped by the same error.

The engine knows no domain: the words of a fix come from hints the domain registers
(`register_hint`), matched on the error type and the message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable
from uuid import UUID

import sqlalchemy as sa

from . import instances
from .db import db
from .exceptions import EngineError, InvalidData
from .instances import ProcessInstance

_HINTS: list[tuple[str, re.Pattern, Callable[[re.Match], str]]] = []
MAX_BATCH = 500  # one request retries at most this many cases; the rest wait for the next


def register_hint(error_type: str, pattern: str, explain: Callable[[re.Match], str]) -> None:
    """Teach the incident view the fix for an error: `explain(match)` gives it in words."""
    compiled = re.compile(pattern)
    if not any(e == error_type and p.pattern == compiled.pattern for e, p, _ in _HINTS):
        _HINTS.append((error_type, compiled, explain))


def hint(error_type: str | None, message: str | None) -> str | None:
    """The likely fix of an incident, or None when nothing registered recognises it."""
    for known_type, pattern, explain in _HINTS:
        if known_type == error_type and message:
            match = pattern.search(message)
            if match:
                return explain(match)
    return None


def query(regions=None, error_type: str | None = None, message: str | None = None,
          process_id: str | None = None):
    """Open incidents (oldest first), within `regions` (None: every region)."""
    stmt = sa.select(ProcessInstance).where(ProcessInstance.status == instances.INCIDENT)
    if regions is not None:
        stmt = stmt.where(ProcessInstance.region.in_(regions))
    if error_type:
        stmt = stmt.where(ProcessInstance.incident_error_type == error_type)
    if message:
        stmt = stmt.where(ProcessInstance.incident_message == message)
    if process_id:
        stmt = stmt.where(ProcessInstance.process_id == process_id)
    return stmt.order_by(ProcessInstance.incident_at, ProcessInstance.id)


def open_incidents(regions=None, limit: int = 500, **filters) -> list[ProcessInstance]:
    return list(db.session.execute(query(regions, **filters).limit(limit)).scalars())


def describe(row: ProcessInstance) -> dict:
    """The incident in words: where, what, the likely fix, when (no workflow is loaded)."""
    return {"instance_id": row.id, "process_id": row.process_id, "business_key": row.business_key,
            "region": row.region, "task_id": row.incident_task_id, "task": row.incident_task_name,
            "error_type": row.incident_error_type, "message": row.incident_message,
            "hint": hint(row.incident_error_type, row.incident_message),
            "at": row.incident_at.isoformat() if row.incident_at else None}


def failed_task_input(row: ProcessInstance) -> dict:
    """The data the failed task ran with (what an operator checks, or edits, before a retry)."""
    workflow = instances.peek(row)
    task = None
    if row.incident_task_id:
        try:
            task = workflow.get_task_from_id(UUID(row.incident_task_id))
        except Exception:  # a task id from an older state: fall back to the case data
            task = None
    return dict(task.data) if task is not None else instances.current_data(workflow)


@dataclass
class RetryResult:
    instance_id: str
    outcome: str  # "moved_on", "failed_again", "refused"
    status: str | None
    message: str | None

    def as_dict(self):
        return {"instance_id": self.instance_id, "outcome": self.outcome, "status": self.status,
                "message": self.message}


def retry_many(instance_ids: list[str], actor: str) -> list[RetryResult]:
    """Retry each case in its own step: one case failing again never holds back the others."""
    if len(instance_ids) > MAX_BATCH:
        raise InvalidData(f"at most {MAX_BATCH} cases in one retry; {len(instance_ids)} were given")
    results = []
    for instance_id in dict.fromkeys(instance_ids):  # each once, in the order given
        try:
            row = instances.retry(instance_id, actor)
        except EngineError as err:
            db.session.rollback()
            results.append(RetryResult(instance_id, "refused", None, str(err)))
            continue
        if row.status == instances.INCIDENT:
            results.append(RetryResult(instance_id, "failed_again", row.status, row.incident_message))
        else:
            results.append(RetryResult(instance_id, "moved_on", row.status, None))
    return results


def same_error_ids(instance_id: str, regions=None) -> list[str]:
    """Every open incident (within `regions`) stopped by the same error as `instance_id`'s."""
    row = instances.get(instance_id)
    if row.status != instances.INCIDENT:
        raise InvalidData(f"instance {instance_id} has no open incident")
    stmt = query(regions, error_type=row.incident_error_type, message=row.incident_message).limit(MAX_BATCH)
    return [r.id for r in db.session.execute(stmt).scalars()]
