"""An operator corrects a case's data before retrying its incident.

The change is set on the failed task (the data it runs with on the retry), checked against the
form schema of the diagram's user task that owns the field, where one does, and recorded in the
audit log as a diff with who and why. Values the domain calls personal are masked in the diff
by maskers it registers (`register_mask`).
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from SpiffWorkflow.util.task import TaskState

from . import audit, definitions, forms, instances
from .exceptions import Conflict, InvalidData
from .workflow import task_specs

FORM_PROPERTY = "formJsonSchemaFilename"
_MASKS: list[Callable[[tuple, Any], Any]] = []
_UNSET = object()


def register_mask(mask: Callable[[tuple, Any], Any]) -> None:
    """`mask(path, value)` returns the value to write into the audit log (the value itself if
    it is not personal); `path` is the tuple of keys down to the leaf."""
    if mask not in _MASKS:
        _MASKS.append(mask)


def edit_data(instance_id: str, actor: str, changes: dict, reason: str) -> dict:
    """Set top-level data keys of a case in incident on its failed task; returns the diff
    {"dotted.path": {"before": ..., "after": ...}} of the changed leaves (masked as in the audit log)."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidData("give the reason for the change", {"reason": ["required"]})
    if not isinstance(changes, dict) or not changes:
        raise InvalidData("give at least one field to change", {"data": ["required, a non-empty object"]})
    reserved = [k for k in changes if not isinstance(k, str) or k.startswith("__") or k == "completed_by"]
    if reserved:
        raise InvalidData("these fields are kept by the engine", {f"data.{k}": ["reserved name"] for k in reserved})
    with instances.step(instance_id, actor) as (row, workflow):
        if row.status != instances.INCIDENT:
            raise Conflict(f"instance {instance_id} has no incident: its data is changed before a retry only")
        failed = list(instances.all_tasks(workflow, TaskState.ERROR))
        if not failed:
            raise Conflict(f"instance {instance_id} has no failed task to correct")
        errors = _schema_errors(row, workflow, changes)
        if errors:
            raise InvalidData("the new values break the form's rules", errors)
        before = failed[0].data
        diff: dict = {}
        for key, value in changes.items():
            _diff((key,), before.get(key, _UNSET), value, diff)
        for task in failed:
            task.data.update(copy.deepcopy(changes))
        audit.record("instance_data_edited", actor=actor, instance_id=row.id, task_id=row.incident_task_id,
                     details={"reason": reason.strip(), "task": row.incident_task_name, "diff": diff})
    return diff


def _schema_errors(row, workflow, changes) -> dict:
    """Errors of each changed field a user task's form of this diagram defines."""
    definition = definitions.get(row.definition_id)
    errors: dict = {}
    for key, value in changes.items():
        for schema in _forms_defining(definition, workflow, key):
            single = {"$schema": schema.get("$schema"), "$defs": schema.get("$defs", {}),
                      "type": "object", "properties": {key: schema["properties"][key]}}
            single = {k: v for k, v in single.items() if v is not None}
            for path, messages in forms.validate(single, {key: value}).items():
                errors.setdefault(f"data.{path or key}", []).extend(messages)
    return errors


def _forms_defining(definition, workflow, key):
    seen = set()
    for spec in task_specs(workflow.spec, workflow.subprocess_specs):
        name = (getattr(spec, "extensions", None) or {}).get("properties", {}).get(FORM_PROPERTY)
        if not name or name in seen:
            continue
        seen.add(name)
        schema = definitions.form_schema(definition, name)
        if schema and key in (schema.get("properties") or {}):
            yield schema


def _diff(path: tuple, old, new, out: dict) -> None:
    """Changed leaves only, by dotted path: an edit of one date does not copy the whole record."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            _diff(path + (key,), old.get(key, _UNSET), new.get(key, _UNSET), out)
    elif old != new:
        out[".".join(str(p) for p in path)] = {
            "before": None if old is _UNSET else _masked(path, copy.deepcopy(old)),
            "after": None if new is _UNSET else _masked(path, copy.deepcopy(new))}


def _masked(path: tuple, value):
    if isinstance(value, dict):
        return {k: _masked(path + (k,), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(path + (i,), v) for i, v in enumerate(value)]
    for mask in _MASKS:
        value = mask(path, value)
    return value
