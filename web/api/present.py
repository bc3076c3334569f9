"""How the API shows a case, a permit, a task and a process instance (plain JSON-able dicts).

A case's view reads its row (kind, numbers, outcome), its instance (status), the workflow's
current data (deadlines, permit) and the task and timer indexes (current steps with their due
times). Lists read only rows.
"""
from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import (
    BoundaryEvent, EventBasedGateway, IntermediateCatchEvent, ReceiveTask)
from SpiffWorkflow.util.task import TaskState

from engine import audit, clock, definitions, instances
from engine.db import db
from engine.tasks import READY, HumanTask
from engine.timers import Timer
from handlers import permits as register

CASE_STATUS = {instances.IN_PROGRESS: "in_progress", instances.COMPLETED: "completed",
               instances.INCIDENT: "incident", instances.TERMINATED: "completed"}
_HIDDEN_HISTORY = {"api_request"}


def case_view(case) -> dict:
    """The whole case, as GET /cases/{id} answers it."""
    instance = instances.get(case.id)
    workflow = instances.peek(instance)
    data = instances.current_data(workflow)
    view = case_summary(case, instance.status)
    view["created_by"] = case.created_by
    view["current_steps"] = current_steps(instance, workflow)
    view["deadlines"] = deadlines(data.get("deadlines"), case, instance)
    view["permit"] = _case_permit(case, data)
    view["history"] = [_history(event) for event in audit.trail(case.id) if event.event not in _HIDDEN_HISTORY]
    return view


def case_summary(case, instance_status: str) -> dict:
    """What a list shows of a case: the row only."""
    return {
        "case_id": case.id, "kind": case.kind, "application_no": case.application_no,
        "channel": case.channel, "region": case.region,
        "status": CASE_STATUS.get(instance_status, "in_progress"),
        "outcome": _outcome(case.outcome), "permit_no": case.permit_no,
        "applicant": ({"iin": case.applicant_iin, "name": case.applicant_name or ""}
                      if case.applicant_iin else None),
        "created_at": _iso(case.created_at), "decided_at": _iso(case.decided_at),
    }


def current_steps(instance, workflow) -> list[dict]:
    """Where the instance stands: open human tasks, waiting events, a failed step."""
    if instance.status in (instances.COMPLETED, instances.TERMINATED):
        return []
    human_due = dict(db.session.execute(sa.select(HumanTask.id, HumanTask.due_at).where(
        HumanTask.instance_id == instance.id, HumanTask.status == READY)).all())
    timer_due = dict(db.session.execute(sa.select(Timer.task_id, Timer.due_at).where(
        Timer.instance_id == instance.id)).all())
    steps = []
    for task in instances.all_tasks(workflow, TaskState.READY | TaskState.WAITING | TaskState.STARTED |
                                    TaskState.ERROR):
        spec = task.task_spec
        if not _is_step(task):
            continue
        task_id = str(task.id)
        due = human_due.get(task_id) or timer_due.get(task_id) or _boundary_due(task, timer_due)
        # A human task's id is the one /tasks/{id} answers to; a waiting event has none to act on.
        steps.append({"name": spec.bpmn_name or spec.bpmn_id, "lane": spec.lane, "due_at": _local(due),
                      "task_id": task_id if task_id in human_due else None})
    steps.sort(key=lambda s: (s["due_at"] is None, s["due_at"] or "", s["name"]))
    return steps


def deadlines(records, case, instance) -> list[dict]:
    """The deadlines the case data holds, each with whether it was met."""
    if not isinstance(records, dict):
        return []
    ended_at = case.decided_at if case is not None else None
    if ended_at is None and instance.status in (instances.COMPLETED, instances.TERMINATED):
        ended_at = instance.completed_at
    now = clock.now()
    result = []
    for name, record in records.items():
        if not isinstance(record, dict):
            continue
        due = _parse(record.get("due_at_utc") or record.get("due_at"))
        met = record.get("met")
        if not isinstance(met, bool):
            if due is None:
                met = None
            elif ended_at is not None:
                met = ended_at <= due
            else:
                met = False if now > due else None
        result.append({"name": str(record.get("name") or name), "rule": _str(record.get("rule")),
                       "start": _str(record.get("start")), "due_at": _str(record.get("due_at")),
                       "calendar_version": _str(record.get("calendar_version")), "met": met})
    result.sort(key=lambda d: (d["due_at"] is None, _parse(d["due_at"]) or now, d["name"]))
    return result


def permit_view(permit: dict | None) -> dict | None:
    """A permit as the API shows it, from the register's `as_dict()` shape."""
    if not isinstance(permit, dict) or not permit.get("number"):
        return None
    holder, employer = permit.get("holder") or {}, permit.get("employer") or {}
    return {
        "permit_no": permit["number"], "region": permit.get("region"), "status": permit.get("status"),
        "holder": {"iin": holder.get("iin"), "name": holder.get("name") or "",
                   "last_name": holder.get("surname"), "first_name": holder.get("given_name"),
                   "patronymic": holder.get("patronymic"), "citizenship": holder.get("citizenship")},
        "employer": {"iin": employer.get("iin"), "name": employer.get("name") or ""},
        "valid_from": permit.get("valid_from"), "valid_to": permit.get("valid_to"),
        "months": permit.get("months"), "issued_at": permit.get("issued_at"),
        "issued_by_case": permit.get("issued_by_case"), "ended_at": permit.get("ended_at"),
        "revocation": permit.get("revocation"),
        "history": [{"event": e.get("event"), "at": e.get("at"), "case_id": e.get("instance_id"),
                     "actor": e.get("actor"), "details": e.get("details") or {}}
                    for e in permit.get("history") or []],
    }


def task_view(row) -> dict:
    d = row.as_dict()
    return {"id": d["id"], "case_id": d["instance_id"], "process_id": d["process_id"],
            "bpmn_id": d["bpmn_id"], "name": d["name"], "lane": d["lane"], "role": d["role"],
            "region": d["region"], "status": d["status"], "assignee": d["assignee"],
            "due_at": _local(row.due_at), "escalated": bool(d["escalated"]), "created_at": d["created_at"],
            "claimed_at": d["claimed_at"], "completed_at": d["completed_at"],
            "completed_by": d["completed_by"]}


def task_detail(row) -> dict:
    view = task_view(row)
    definition = definitions.get(row.definition_id)
    view["form"] = {"name": row.form, "schema": definitions.form_schema(definition, row.form)}
    view["data"] = {}
    instance = instances.get(row.instance_id)
    workflow = instances.peek(instance)
    for task in instances.all_tasks(workflow):
        if str(task.id) == row.id:
            view["data"] = jsonable(task.data)
            break
    else:
        view["data"] = jsonable(instances.current_data(workflow))
    return view


def instance_view(instance) -> dict:
    workflow = instances.peek(instance)
    definition = definitions.get(instance.definition_id)
    return {"id": instance.id, "process_id": instance.process_id, "version": definition.version,
            "business_key": instance.business_key, "region": instance.region, "status": instance.status,
            "created_at": _iso(instance.created_at), "updated_at": _iso(instance.updated_at),
            "completed_at": _iso(instance.completed_at), "incident": instance.incident(),
            "current_steps": current_steps(instance, workflow),
            "data": jsonable(instances.current_data(workflow))}


def jsonable(value):
    """Data as plain JSON: dates and times in ISO 8601, any other odd value as its text."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value):
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


# --- helpers ----------------------------------------------------------------------------------

def _is_step(task) -> bool:
    spec = task.task_spec
    if getattr(spec, "bpmn_id", None) is None:
        return False
    if task.state in (TaskState.ERROR, TaskState.STARTED):  # failed, or waiting for its job
        return True
    if task.state == TaskState.READY:
        return bool(spec.manual)
    return isinstance(spec, (IntermediateCatchEvent, ReceiveTask, EventBasedGateway)) and \
        not isinstance(spec, BoundaryEvent)


def _boundary_due(task, timer_due: dict) -> datetime | None:
    """The earliest boundary timer on the task (its deadline), if it has any."""
    parent = task.parent
    if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
        return None
    dues = [timer_due[str(sibling.id)] for sibling in parent.children
            if sibling is not task and isinstance(getattr(sibling.task_spec, "event_definition", None),
                                                  TimerEventDefinition)
            and str(sibling.id) in timer_due]
    return min(dues) if dues else None


def _case_permit(case, data) -> dict | None:
    """The permit the case issued, extended or revokes, as the register holds it now."""
    if case.permit_no:
        permit = register.get_permit(case.permit_no)
        if permit is not None:
            return permit_view(permit.as_dict())
    return permit_view(data.get("permit"))


def _outcome(outcome) -> dict | None:
    if not isinstance(outcome, dict):
        return None
    return {"code": outcome.get("code"), "grounds": list(outcome.get("grounds") or []),
            "decided_at": outcome.get("decided_at"), "decided_by": outcome.get("decided_by")}


def _history(event) -> dict:
    details = event.details or {}
    step = details.get("task") or details.get("name") if isinstance(details, dict) else None
    return {"at": _iso(event.at), "event": event.event, "actor": event.actor,
            "step": step if isinstance(step, str) else None}


def _parse(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _local(value: datetime | None) -> str | None:
    """A due time as officers read it: in the calendar's zone (Asia/Almaty), with its offset."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(current_app.config["CALENDAR_TIMEZONE"])).isoformat()


def _str(value) -> str | None:
    return None if value is None else str(value)
