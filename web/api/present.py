"""How the API shows a case, a permit, a task and a process instance (plain JSON-able dicts).

A case's view renders the domain's read model of it (handlers/case_view.py: status, current
steps with their due times, deadlines with their state, the permit), the same one the officers'
case page renders. Lists read only rows.
"""
from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

from engine import definitions, instances
from handlers import case_view as case_view_model

CASE_STATUS = {instances.IN_PROGRESS: "in_progress", instances.COMPLETED: "completed",
               instances.INCIDENT: "incident", instances.TERMINATED: "completed"}
_HIDDEN_HISTORY = {"api_request"}
_TIMER_EVENTS = ("timer_fired", "timer_cancelled")


def case_view(case) -> dict:
    """The whole case, as GET /cases/{id} answers it: the domain's read model, as JSON."""
    model = case_view_model.of_case(case)
    view = case_summary(case, model.status)
    view["created_by"] = case.created_by
    view["current_steps"] = [_step(step) for step in model.standing.steps]
    view["deadlines"] = [_deadline(d) for d in model.deadlines]
    view["permit"] = permit_view(model.permit)
    names = model.element_names
    view["history"] = [_history(event, names) for event in model.trail if event.event not in _HIDDEN_HISTORY]
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
    return [_step(step) for step in case_view_model.standing(instance, workflow).steps]


def _step(step) -> dict:
    # A human task's id is the one /tasks/{id} answers to; a waiting event has none to act on.
    return {"name": step.name, "lane": step.lane, "due_at": _local(step.due), "task_id": step.task_id}


def _deadline(deadline) -> dict:
    """A deadline: its record, its `state` (handlers.case_view's vocabulary) and `met` from it."""
    return {"name": deadline.name, "rule": deadline.rule, "start": deadline.start,
            "due_at": deadline.due_at_text, "calendar_version": deadline.calendar_version,
            "met": deadline.met, "state": deadline.state}


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
    view["form"] = {"name": row.form,
                    "schema": definitions.form_schema(definitions.facts(row.definition_id), row.form)}
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
    with instances.looking_at(instance) as workflow:
        steps, data = current_steps(instance, workflow), jsonable(instances.current_data(workflow))
    return {"id": instance.id, "process_id": instance.process_id,
            "version": definitions.facts(instance.definition_id).version,
            "business_key": instance.business_key, "region": instance.region, "status": instance.status,
            "created_at": _iso(instance.created_at), "updated_at": _iso(instance.updated_at),
            "completed_at": _iso(instance.completed_at), "incident": instance.incident(),
            "current_steps": steps, "data": data}


def jsonable(value):
    """Data as plain JSON: dates and times in ISO 8601, any other odd value as its text."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value):
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


# --- helpers ----------------------------------------------------------------------------------

def _outcome(outcome) -> dict | None:
    if not isinstance(outcome, dict):
        return None
    return {"code": outcome.get("code"), "grounds": list(outcome.get("grounds") or []),
            "decided_at": outcome.get("decided_at"), "decided_by": outcome.get("decided_by")}


def _history(event, names=None) -> dict:
    details = event.details or {}
    step = details.get("task") or details.get("name") if isinstance(details, dict) else None
    if step is None and isinstance(details, dict) and event.event in _TIMER_EVENTS:
        step = (names or {}).get(details.get("bpmn_id"))  # a timer's event names its element by id
    return {"at": _iso(event.at), "event": event.event, "actor": event.actor,
            "step": step if isinstance(step, str) else None}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _local(value: datetime | None) -> str | None:
    """A due time as officers read it: in the calendar's zone (Asia/Almaty), with its offset."""
    if value is None:
        return None
    return value.astimezone(ZoneInfo(current_app.config["CALENDAR_TIMEZONE"])).isoformat()


def _str(value) -> str | None:
    return None if value is None else str(value)
