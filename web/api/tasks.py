"""Human tasks for integrations acting as an officer: the inbox's rules, over JSON.

The token names the officer: its role, its regions and its assignee name (engine.tasks.Actor).
A task outside the officer's role or regions does not exist for them (404).
"""
from __future__ import annotations

from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from engine import tasks
from engine.db import db
from engine.exceptions import Conflict

from . import cursors, examples, idempotency, present
from .operation import client, operation
from .problems import Problem
from .schemas import (CompleteTaskSchema, TaskDetailSchema, TaskPageSchema, TaskQuerySchema, TaskSchema,
                      UnclaimTaskSchema)

SUPERVISOR = "supervisor"
COMPLETE = "task_complete"


@operation("GET", "/tasks", summary="The officer's queue, soonest deadline first", tag="tasks",
           scopes=("tasks:write",), query=TaskQuerySchema, responses={200: (TaskPageSchema, "A page of tasks")},
           description="Filters combine; `case_id` finds the tasks of one case (its `current_steps` "
                       "carry the same task ids). Pages: pass `next_cursor` as `cursor` until it is null; "
                       "a page starts after the last task of the previous one, so none is skipped or "
                       "repeated when others are completed meanwhile.")
def list_tasks(query):
    officer = _officer()
    limit = query["limit"]
    after = cursors.decode(query["cursor"], "time?", "time", "uuid") if query.get("cursor") else None
    rows = tasks.queue(officer, status=query["status"], assignee=officer.name if query["mine"] else None,
                       unassigned=query["unassigned"], bpmn_id=query.get("bpmn_id"),
                       process_id=query.get("process_id"),
                       instance_id=query.get("case_id") or query.get("instance_id"),
                       after=after, limit=limit + 1)
    page = rows[:limit]
    next_cursor = cursors.encode(*tasks.queue_position(page[-1])) if len(rows) > limit else None
    return {"items": [present.task_view(r) for r in page], "next_cursor": next_cursor}, 200


@operation("GET", "/tasks/<uuid:task_id>", summary="Read a task with its form schema and data", tag="tasks",
           scopes=("tasks:write",), responses={200: (TaskDetailSchema, "The task")})
def get_task(task_id):
    return present.task_detail(tasks.visible_to(_officer(), str(task_id))), 200


@operation("POST", "/tasks/<uuid:task_id>/claim", summary="Claim a task", tag="tasks", scopes=("tasks:write",),
           responses={200: (TaskSchema, "The task, claimed by this client's officer")}, errors=(409,))
def claim_task(task_id):
    officer = _officer()
    return present.task_view(tasks.claim(str(task_id), officer, via=_via())), 200


@operation("POST", "/tasks/<uuid:task_id>/unclaim", summary="Give a task back (or, supervisors, reassign it)",
           tag="tasks", scopes=("tasks:write",), body=UnclaimTaskSchema, body_required=False,
           example=examples.UNCLAIM_TASK,
           responses={200: (TaskSchema, "The task")}, errors=(409,))
def unclaim_task(task_id, body):
    officer = _officer()
    row = tasks.unclaim(str(task_id), officer, reassign_to=body.get("reassign_to"),
                        as_supervisor=SUPERVISOR in officer.roles, via=_via())
    return present.task_view(row), 200


@operation("POST", "/tasks/<uuid:task_id>/complete", summary="Complete a claimed task with its form data",
           tag="tasks", scopes=("tasks:write",), body=CompleteTaskSchema, example=examples.COMPLETE_TASK,
           responses={200: (TaskSchema, "The completed task; the case has run on to its next wait")},
           errors=(409,), headers={idempotency.HEADER: "Optional, up to 200 visible ASCII characters: "
                                   "retrying with the same key and body answers the first completion "
                                   "(200) instead of 409; the same key with another body or task is 422"},
           description="Safe to retry with an `Idempotency-Key` header: after a lost answer, the "
                       "same key and body answer the completed task as the first attempt did.")
def complete_task(task_id, body):
    officer = _officer()
    task_id = str(task_id)
    key = idempotency.key_from_request()
    if key is None:
        return present.task_view(tasks.complete(task_id, officer, body["data"], via=_via())), 200
    me = client()
    request_hash = idempotency.digest(COMPLETE, task_id, body["data"])
    if idempotency.earlier(me.id, key, COMPLETE, task_id, request_hash) is not None:
        return present.task_view(tasks.visible_to(officer, task_id)), 200
    idempotency.remember(me.id, key, COMPLETE, task_id, request_hash)
    try:
        return present.task_view(tasks.complete(task_id, officer, body["data"],
                                                via=_via(idempotency_key=key))), 200
    except (Conflict, IntegrityError):
        # A concurrent attempt with the same key may have won: then its result is the answer.
        db.session.rollback()
        if idempotency.earlier(me.id, key, COMPLETE, task_id, request_hash) is not None:
            return present.task_view(tasks.visible_to(officer, task_id)), 200
        raise


def _officer() -> tasks.Actor:
    me = client()
    if not me.role:
        raise Problem(403, gettext("this token acts as no officer (it has no role)"))
    return me.officer()


def _via(**details) -> dict:
    """The client system acting for the officer, recorded in the change's own audit event."""
    return {"client": client().actor, **details}
