"""Human tasks for integrations acting as an officer: the inbox's rules, over JSON.

The token names the officer: its role, its regions and its assignee name (engine.tasks.Actor).
A task outside the officer's role or regions does not exist for them (404).
"""
from __future__ import annotations

from flask_babel import gettext

from engine import audit, tasks

from . import examples, present
from .operation import client, operation
from .problems import Problem
from .schemas import (CompleteTaskSchema, TaskDetailSchema, TaskPageSchema, TaskQuerySchema, TaskSchema,
                      UnclaimTaskSchema)

SUPERVISOR = "supervisor"


@operation("GET", "/tasks", summary="The officer's queue, soonest deadline first", tag="tasks",
           scopes=("tasks:write",), query=TaskQuerySchema, responses={200: (TaskPageSchema, "A page of tasks")})
def list_tasks(query):
    officer = _officer()
    offset = int(query.get("cursor") or 0)
    limit = query["limit"]
    rows = tasks.queue(officer, status=query["status"], assignee=officer.name if query["mine"] else None,
                       unassigned=query["unassigned"], bpmn_id=query.get("bpmn_id"),
                       process_id=query.get("process_id"), limit=limit + 1, offset=offset)
    return {"items": [present.task_view(r) for r in rows[:limit]],
            "next_cursor": str(offset + limit) if len(rows) > limit else None}, 200


@operation("GET", "/tasks/<uuid:task_id>", summary="Read a task with its form schema and data", tag="tasks",
           scopes=("tasks:write",), responses={200: (TaskDetailSchema, "The task")})
def get_task(task_id):
    return present.task_detail(tasks.visible_to(_officer(), str(task_id))), 200


@operation("POST", "/tasks/<uuid:task_id>/claim", summary="Claim a task", tag="tasks", scopes=("tasks:write",),
           responses={200: (TaskSchema, "The task, claimed by this client's officer")}, errors=(409,))
def claim_task(task_id):
    officer = _officer()
    _audit("api_task_claim", officer, str(task_id))
    return present.task_view(tasks.claim(str(task_id), officer)), 200


@operation("POST", "/tasks/<uuid:task_id>/unclaim", summary="Give a task back (or, supervisors, reassign it)",
           tag="tasks", scopes=("tasks:write",), body=UnclaimTaskSchema, body_required=False,
           example=examples.UNCLAIM_TASK,
           responses={200: (TaskSchema, "The task")}, errors=(409,))
def unclaim_task(task_id, body):
    officer = _officer()
    _audit("api_task_unclaim", officer, str(task_id), reassign_to=body.get("reassign_to"))
    row = tasks.unclaim(str(task_id), officer, reassign_to=body.get("reassign_to"),
                        as_supervisor=SUPERVISOR in officer.roles)
    return present.task_view(row), 200


@operation("POST", "/tasks/<uuid:task_id>/complete", summary="Complete a claimed task with its form data",
           tag="tasks", scopes=("tasks:write",), body=CompleteTaskSchema, example=examples.COMPLETE_TASK,
           responses={200: (TaskSchema, "The completed task; the case has run on to its next wait")},
           errors=(409,))
def complete_task(task_id, body):
    officer = _officer()
    _audit("api_task_complete", officer, str(task_id))
    return present.task_view(tasks.complete(str(task_id), officer, body["data"])), 200


def _officer() -> tasks.Actor:
    me = client()
    if not me.role:
        raise Problem(403, gettext("this token acts as no officer (it has no role)"))
    return me.officer()


def _audit(event: str, officer, task_id: str, **details) -> None:
    """The client's own record of the change, committed with it (or discarded with it)."""
    row = tasks.visible_to(officer, task_id)
    audit.record(event, actor=client().actor, instance_id=row.instance_id, task_id=task_id,
                 details={"officer": officer.name, **details})
