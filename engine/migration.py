"""Moving running instances to another version of their definition.

A case moves only when what it has done is still what the new version would do: every task it
has completed, started or waits at must exist in the new version (under the same BPMN id, or
the id an operator maps it to) with the same definition (the element's XML, its name aside).
Tasks it has not reached are predicted again from the new version. The preview says, per case,
whether it can move and why not; the batch moves each case in its own step and reports.
Instances inside subprocesses or call activities are refused for now (not needed by the
procedures here; their task trees would need the same check per subprocess).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from lxml import etree
from SpiffWorkflow.util.task import TaskState

from . import audit, definitions, instances
from .db import db
from .exceptions import Conflict, InvalidData, NotFound

REACHED = TaskState.COMPLETED | TaskState.STARTED | TaskState.READY | TaskState.WAITING | TaskState.ERROR
OPEN = TaskState.STARTED | TaskState.READY | TaskState.WAITING | TaskState.ERROR
MAX_BATCH = 1000
_IGNORED_CHILDREN = {"incoming", "outgoing"}


class _Refused(Exception):
    def __init__(self, verdict):
        super().__init__("; ".join(verdict.problems))
        self.verdict = verdict


@dataclass
class Verdict:
    instance_id: str
    business_key: str | None
    can_move: bool
    problems: list[str] = field(default_factory=list)

    def as_dict(self):
        return {"instance_id": self.instance_id, "business_key": self.business_key,
                "can_move": self.can_move, "problems": self.problems}


def target_definition(definition_id: int, process_id: str | None = None):
    target = definitions.get(definition_id)
    if target is None or (process_id and target.process_id != process_id):
        raise NotFound(f"no version {definition_id} of {process_id or 'any process'}")
    return target


def version(process_id: str, number: int):
    """The definition of `process_id` at version `number`."""
    found = db.session.execute(sa.select(definitions.ProcessDefinition).filter_by(
        process_id=process_id, version=number)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no version {number} of {process_id}")
    return found


def running(process_id: str, instance_ids=None, limit: int = MAX_BATCH) -> list:
    stmt = sa.select(instances.ProcessInstance).where(
        instances.ProcessInstance.process_id == process_id,
        instances.ProcessInstance.status.in_((instances.IN_PROGRESS, instances.INCIDENT)))
    if instance_ids is not None:
        stmt = stmt.where(instances.ProcessInstance.id.in_(list(instance_ids)))
    return list(db.session.execute(stmt.order_by(instances.ProcessInstance.created_at).limit(limit)).scalars())


def preview(target, mapping: dict | None = None, instance_ids=None) -> list[Verdict]:
    """Per running instance of the target's process: can it move to `target`, and if not, why."""
    mapping = _checked_mapping(target, mapping)
    fingerprints = {}
    return [_verdict(row, instances.peek(row), target, mapping, fingerprints)
            for row in running(target.process_id, instance_ids)]


def migrate(target, mapping: dict | None, actor: str, instance_ids=None) -> list[Verdict]:
    """Move every movable instance (or those named) to `target`, each in its own step."""
    mapping = _checked_mapping(target, mapping)
    report = []
    for row in running(target.process_id, instance_ids):
        try:
            report.append(_migrate_one(row.id, target, mapping, actor))
        except _Refused as refused:
            report.append(refused.verdict)
        except (Conflict, NotFound) as err:
            db.session.rollback()
            report.append(Verdict(row.id, row.business_key, False, [str(err)]))
    return report


def _migrate_one(instance_id, target, mapping, actor) -> Verdict:
    from . import tasks
    fingerprints: dict = {}
    with instances.step(instance_id, actor) as (row, workflow):
        verdict = _verdict(row, workflow, target, mapping, fingerprints)
        if not verdict.can_move:
            raise _Refused(verdict)  # the step rolls back: nothing of this case changes
        spec, subprocess_specs = definitions.spec_for(target)
        old_version = definitions.get(row.definition_id).version
        _swap_specs(workflow, spec, subprocess_specs, mapping)
        row.definition_id = target.id
        db.session.execute(sa.update(tasks.HumanTask).where(tasks.HumanTask.instance_id == row.id)
                           .values(definition_id=target.id))
        for old, new in mapping.items():
            db.session.execute(sa.update(tasks.HumanTask).where(tasks.HumanTask.instance_id == row.id,
                                                                 tasks.HumanTask.bpmn_id == old)
                               .values(bpmn_id=new, name=spec.task_specs[new].bpmn_name or new))
        audit.record("instance_migrated", actor=actor, instance_id=row.id,
                     details={"from_version": old_version, "to_version": target.version,
                              "mapping": mapping})
    return verdict


def _verdict(row, workflow, target, mapping, fingerprints) -> Verdict:
    problems = []
    if row.definition_id == target.id:
        problems.append(f"already on version {target.version}")
    if workflow.subprocesses:
        problems.append("an instance inside a subprocess is not migrated")
    spec, _ = definitions.spec_for(target)
    old = _fingerprints(definitions.get(row.definition_id), fingerprints)
    new = _fingerprints(target, fingerprints)
    for task in instances.all_tasks(workflow, REACHED):
        name = task.task_spec.name
        new_name = _mapped(name, mapping)
        bpmn_id = task.task_spec.bpmn_id
        label = f"“{task.task_spec.bpmn_name or bpmn_id}” ({bpmn_id})" if bpmn_id else name
        if new_name not in spec.task_specs:
            if bpmn_id:
                problems.append(f"{label} is not in version {target.version}: map it to an activity of that version")
            continue
        if bpmn_id and old.get(bpmn_id) != new.get(_mapped(bpmn_id, mapping)):
            state = "completed" if task.state == TaskState.COMPLETED else "started"
            problems.append(f"{label} was {state} here and is changed in version {target.version}")
    return Verdict(row.id, row.business_key, not problems, sorted(set(problems)))


def _swap_specs(workflow, spec, subprocess_specs, mapping):
    """Point every task at the new version's spec; predictions are made again from it."""
    predicted = TaskState.PREDICTED_MASK
    for task in list(workflow.tasks.values()):
        new_spec = spec.task_specs.get(_mapped(task.task_spec.name, mapping))
        if new_spec is not None:
            task.task_spec = new_spec
    workflow.spec, workflow.subprocess_specs = spec, subprocess_specs
    for task in list(instances.all_tasks(workflow, OPEN)):
        if task.children and all(child.state & predicted for child in task.children):
            task._drop_children(force=True)
            task.task_spec._predict(task, mask=predicted | TaskState.FUTURE)


def _mapped(name: str, mapping: dict) -> str:
    if name in mapping:
        return mapping[name]
    head, dot, rest = name.partition(".")  # derived specs: "decide.BoundaryEventSplit"
    return f"{mapping[head]}.{rest}" if dot and head in mapping else name


def _checked_mapping(target, mapping) -> dict:
    mapping = dict(mapping or {})
    spec, _ = definitions.spec_for(target)
    errors = {f"mapping.{old}": [f"no activity {new!r} in version {target.version}"]
              for old, new in mapping.items() if not isinstance(new, str) or new not in spec.task_specs}
    if errors:
        raise InvalidData("the mapping names activities the new version does not have", errors)
    return mapping


def _fingerprints(definition, cache) -> dict:
    """BPMN id -> the element's canonical XML without its id, name and sequence-flow references."""
    if definition.id in cache:
        return cache[definition.id]
    root = etree.fromstring(definition.bpmn_xml.encode(), parser=etree.XMLParser(resolve_entities=False))
    found = {}
    for process in root.iter("{*}process"):
        for element in process.iter():
            element_id = element.get("id") if isinstance(element.tag, str) else None
            if element_id and element is not process:
                found[element_id] = _canonical(element, top=True)
    cache[definition.id] = found
    return found


def _canonical(element, top=False) -> str:
    tag = etree.QName(element).localname
    attrs = sorted((k, v) for k, v in element.attrib.items() if not (top and k in ("id", "name")))
    children = "".join(_canonical(c) for c in element if isinstance(c.tag, str)
                       and etree.QName(c).localname not in _IGNORED_CHILDREN)
    text = (element.text or "").strip()
    return f"<{tag} {attrs}>{text}{children}</{tag}>"
