"""Moving a running case to an activity of its diagram (Camunda's process instance modification).

Only backwards: the target must be an activity the case has already reached. SpiffWorkflow's
`reset_from_task_id` sets that task runnable again with the data it was reached with, drops
every task after it (their human tasks, timers, subscriptions and jobs close with them) and
the case runs on from there. A jump forward to an activity never reached is refused: the data
the steps in between would have produced is missing, and guessing it would be silent harm; an
operator corrects data (engine.edits) and retries, or cancels, instead. Effects outside the
workflow (rows a handler wrote) are not undone: the domain refuses moves it cannot allow.
"""
from __future__ import annotations

import copy

from SpiffWorkflow.util.task import TaskState

from . import audit, instances
from .exceptions import Conflict, InvalidData
from .workflow import task_specs

REACHED = TaskState.COMPLETED | TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR
ACTIVE = TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR


def activities(workflow) -> dict[str, str]:
    """The diagram's activities a case can be moved to: BPMN id -> name."""
    found = {}
    for spec in task_specs(workflow.spec, workflow.subprocess_specs):
        if _is_activity(spec):
            found[spec.bpmn_id] = spec.bpmn_name or spec.bpmn_id
    return found


def move(instance_id: str, actor: str, target: str, data: dict | None, reason: str):
    """Restart the case at activity `target` (reached before), setting `data` on it."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidData("give the reason for the move", {"reason": ["required"]})
    data = data or {}
    if not isinstance(data, dict):
        raise InvalidData("data must be an object", {"data": ["an object of top-level fields"]})
    reserved = [k for k in data if not isinstance(k, str) or k.startswith("__") or k == "completed_by"]
    if reserved:
        raise InvalidData("these fields are kept by the engine", {f"data.{k}": ["reserved name"] for k in reserved})
    with instances.step(instance_id, actor) as (row, workflow):
        if row.status not in (instances.IN_PROGRESS, instances.INCIDENT):
            raise Conflict(f"instance {instance_id} has ended ({row.status}): an ended case is not moved")
        known = activities(workflow)
        if target not in known:
            raise InvalidData(f"no activity {target!r} in this diagram",
                              {"activity": [f"not an activity of the diagram; one of: {', '.join(sorted(known))}"]})
        reached = [t for t in instances.all_tasks(workflow, REACHED) if t.task_spec.bpmn_id == target]
        if not reached:
            raise Conflict(f"the case has not reached “{known[target]}”: it is moved back to an activity it "
                           f"has reached only (the steps before it have not produced their data)")
        task = max(reached, key=lambda t: (t.last_state_change, t.depth))
        left = sorted({instances._element_name(t) for t in instances.all_tasks(workflow, ACTIVE)
                       if t is not task and t.task_spec.bpmn_id and not t.task_spec.bpmn_id.startswith("_")})
        dropped = workflow.reset_from_task_id(task.id)
        task.data.update(copy.deepcopy(data))
        from . import jobs, tasks
        jobs.cancel_for_tasks(row.id, [task.id, *(t.id for t in dropped)])
        tasks.reopen(workflow, str(task.id))
        if row.status == instances.INCIDENT:
            instances._clear_incident(row)
        audit.record("instance_moved", actor=actor, instance_id=row.id, task_id=str(task.id),
                     details={"to": target, "to_name": known[target], "from": left, "reason": reason.strip(),
                              "data_set": sorted(data)})
    return row


def _is_activity(spec) -> bool:
    names = [cls.__name__ for cls in type(spec).__mro__]
    return bool(getattr(spec, "bpmn_id", None)) and any(
        n.endswith("Task") and n not in ("TaskSpec",) or n in ("SubWorkflowTask", "CallActivity") for n in names) \
        and not any(n in ("BoundaryEvent", "StartEvent", "EndEvent", "IntermediateCatchEvent") for n in names)
