"""Workflow state without its spec, in a compact task encoding.

SpiffWorkflow embeds the whole spec in every serialized workflow (about half the bytes,
a third of the time). The spec is stored once per definition, so an instance keeps only its
task tree and data, gzip-compressed; the cached parsed spec is re-attached on load.

Tasks are written as rows rather than SpiffWorkflow's keyed dictionaries, since the state is
written on every step and its encoding was the largest cost of a step after the engine's own work:

    [id, parent, state, task spec, last state change, triggered, internal data, data, deletions(, children)]

- `id` is the task's number when the engine made it (its id is derived from the number and the
  workflow's key, written once as `task_ids`: [key in hex, next number]; engine/workflow.py), else
  its id as text (a subprocess's tasks, or a task restored from a state before numbers); the
  state's `root` and `last_task` name tasks the same way;
- `parent` is the index of the parent's row when it comes earlier, else its id (or null);
- `data` is the change from the parent's data with `deletions` the keys it dropped, or, when
  `deletions` is null, the whole data (a root, or a parent that is not restored first);
- `children` is written only where it differs from the rows naming this task as parent, in order.

Formats "specless-2" (every task named by its id) and "specless-1.5" (SpiffWorkflow's task
dictionaries) are still read.
"""
import gzip
import json
import zlib
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnSubWorkflowConverter, BpmnWorkflowConverter
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from .workflow import EngineTask, EngineWorkflow, derived_task_id

STATE_FORMAT = "specless-3"
READ_FORMATS = ("specless-3", "specless-2")
LEGACY_FORMAT = "specless-1.5"


def _text_id(task) -> str:
    """A task's id as text, formatted once per task (uuid's __str__ is pure Python)."""
    text = task.__dict__.get("_engine_text_id")
    if text is None:
        text = task._engine_text_id = str(task.id)
    return text


def _ref(task):
    """How the state names a task: its number, else its id as text."""
    number = getattr(task, "task_number", None)
    return number if number is not None else _text_id(task)


def _resolver(workflow):
    """A stored task name (a number or an id as text) -> its UUID, in this workflow."""
    key = getattr(workflow.top_workflow, "task_key", None)

    def resolve(ref):
        return derived_task_id(key, ref) if isinstance(ref, int) else UUID(ref)
    return resolve


class _CompactTasks:
    """Task rows for a workflow's (or a subprocess's) `tasks` mapping."""

    def tasks_to_rows(self, workflow):
        # Values are written as they are: the JSON encoder turns what JSON cannot hold (a
        # callable left in data) into null, as SpiffWorkflow's own encoder does.
        tasks = workflow.tasks
        index, rows, derived = {}, [], {}
        for position, (task_id, task) in enumerate(tasks.items()):
            index[task_id] = position
            parent_id = task._parent
            parent = tasks.get(parent_id) if parent_id is not None else None
            if parent is not None:
                derived.setdefault(parent_id, []).append(task_id)
            parent_ref = index.get(parent_id) if parent is not None else None
            if parent_ref is None:
                parent_ref = str(parent_id) if parent_id is not None else None
                data, deletions = self.registry.clean(task.data), None
            else:
                before, after = parent.data, task.data
                data = {k: v for k, v in after.items() if k not in before or before[k] != v}
                deletions = [k for k in before if k not in after]
            rows.append([_ref(task), parent_ref, task._state, task.task_spec.name,
                         task.last_state_change, 1 if task.triggered else 0,
                         task.internal_data, data, deletions])
        for task_id, task in tasks.items():
            if task._children != derived.get(task_id, []):
                rows[index[task_id]].append([str(child) for child in task._children])
        return rows

    def tasks_from_rows(self, rows, workflow):
        restore = self.registry.restore
        specs = workflow.spec.task_specs
        resolve = _resolver(workflow)
        workflow.tasks = tasks = {}
        events = workflow.top_workflow.event_manager
        ids, explicit = [], set()
        # The engine's workflow is made of EngineTasks; a subprocess (SpiffWorkflow's own class,
        # which makes plain Tasks as it runs) is restored with plain Tasks, as it was saved.
        task_class = EngineTask if isinstance(workflow, EngineWorkflow) else Task
        for row in rows:
            ref, parent_ref, state, spec_name, changed, triggered, internal, data, deletions = row[:9]
            task_id = resolve(ref)
            ids.append(task_id)
            task = task_class(workflow, specs.get(spec_name), state=state, id=task_id)  # adds itself to tasks
            if isinstance(ref, int):
                task.task_number = ref
            if isinstance(parent_ref, int):
                parent_id = ids[parent_ref]
            else:
                parent_id = UUID(parent_ref) if parent_ref is not None else None
            task._parent = parent_id
            task.last_state_change = changed
            task.triggered = bool(triggered)
            task.internal_data = restore(internal)
            if deletions is None:
                task.data = restore(data)
            else:
                merged = DeepMerge.merge({}, tasks[parent_id].data)
                merged.update(restore(data))
                for key in deletions:
                    merged.pop(key, None)
                task.data = merged
            if len(row) > 9:
                task._children = [UUID(child) for child in row[9]]
                explicit.add(task_id)
            if isinstance(task.task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
                events.add_task(task)
        for task in tasks.values():
            parent_id = task._parent
            if parent_id is not None and parent_id not in explicit and parent_id in tasks:
                tasks[parent_id]._children.append(task.id)
        return tasks

    def common_to_dict(self, workflow):
        return {
            "data": self.registry.convert(self.registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": _ref(workflow.last_task) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": self.tasks_to_rows(workflow),
            "root": _ref(workflow.task_tree),
        }

    def refs_to_ids(self, dct, workflow):
        """`root` and `last_task` as SpiffWorkflow's converter reads them (ids as text)."""
        resolve = _resolver(workflow)
        for name in ("root", "last_task"):
            if isinstance(dct.get(name), int):
                dct[name] = str(resolve(dct[name]))


class SpeclessWorkflowConverter(_CompactTasks, BpmnWorkflowConverter):
    def to_dict(self, workflow):
        dct = self.common_to_dict(workflow)
        dct["subprocesses"] = {str(k): self.registry.convert(v) for k, v in workflow.subprocesses.items()}
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        dct["task_ids"] = [workflow.task_key.hex(), workflow.next_task_number]
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = EngineWorkflow(spec, subprocess_specs or {}, deserializing=True)
        if "task_ids" in dct:  # else a state before numbers: new tasks get ids under a new key
            key, workflow.next_task_number = dct.pop("task_ids")
            workflow.task_key = bytes.fromhex(key)
        self.refs_to_ids(dct, workflow)
        self.restore_tasks(dct["tasks"], workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow

    def restore_tasks(self, tasks, workflow):
        self.tasks_from_rows(tasks, workflow)


class SpeclessSubWorkflowConverter(_CompactTasks, BpmnSubWorkflowConverter):
    def to_dict(self, workflow):
        dct = self.common_to_dict(workflow)
        dct["parent_task_id"] = str(workflow.parent_task_id)
        dct["spec"] = workflow.spec.name
        return dct

    def from_dict(self, dct, task, top_workflow):
        spec = top_workflow.subprocess_specs.get(task.task_spec.spec)
        subprocess = self.target_class(spec, task.id, top_workflow, deserializing=True)
        self.refs_to_ids(dct, subprocess)
        self.tasks_from_rows(dct["tasks"], subprocess)
        subprocess.task_tree = subprocess.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(subprocess, dct)
        return subprocess


class LegacySpeclessWorkflowConverter(SpeclessWorkflowConverter):
    """Format "specless-1.5": SpiffWorkflow's own task dictionaries, without the spec (read only)."""

    def restore_tasks(self, tasks, workflow):
        workflow.tasks = self.mapping_from_dict(tasks, UUID, workflow=workflow)


def _build_serializer(version, workflow_converter, subworkflow_converter=None):
    cfg = dict(SPIFF_CONFIG)
    cfg[BpmnWorkflow] = workflow_converter
    if subworkflow_converter is not None:
        cfg[BpmnSubWorkflow] = subworkflow_converter
    registry = BpmnWorkflowSerializer.configure(cfg)
    # The engine's workflow class is written as, and restored from, a "BpmnWorkflow".
    registry.typenames[EngineWorkflow] = registry.typenames[BpmnWorkflow]
    registry.typenames[EngineTask] = registry.typenames[Task]
    return BpmnWorkflowSerializer(registry, version=version)


_SERIALIZER = _build_serializer(STATE_FORMAT, SpeclessWorkflowConverter, SpeclessSubWorkflowConverter)
_LEGACY = _build_serializer(LEGACY_FORMAT, LegacySpeclessWorkflowConverter)


def dump_state(workflow) -> bytes:
    """Serialize the task tree and data (not the spec) to gzip-compressed JSON."""
    registry = _SERIALIZER.registry
    registry._encoder_mode = True
    try:
        dct = registry.convert(workflow)
        dct["serializer_version"] = STATE_FORMAT
        # A task tree holds no reference cycles (rows refer to each other by index or id).
        text = json.dumps(dct, cls=_SERIALIZER._encoder_cls, separators=(",", ":"), check_circular=False)
    finally:
        registry._encoder_mode = False
    return _gzip(text.encode("utf-8"))


def _gzip(raw: bytes) -> bytes:
    """gzip at level 1 (nearly as small as 6 on workflow JSON, a third of the time) with a
    window no larger than the input: setting up zlib's default 32 KB window and hash table
    costs several times more than compressing a few kilobytes, and a window as large as the
    input finds every match a larger one would."""
    bits = max(9, min(15, (len(raw) - 1).bit_length()))
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + bits, max(2, min(8, bits - 8)))
    return compressor.compress(raw) + compressor.flush()


def dump_finished(workflow, data: dict, process_id: str | None = None) -> bytes:
    """A finished workflow's compacted state (engine/finished.py): its data and its path, with
    the process's compression dictionary when it has one (engine/state_dictionary.py)."""
    from .finished import compact
    registry = _SERIALIZER.registry
    registry._encoder_mode = True
    try:
        stored = compact(workflow, registry.convert(data))
        text = json.dumps(stored, cls=_SERIALIZER._encoder_cls, separators=(",", ":"), ensure_ascii=False)
    finally:
        registry._encoder_mode = False
    # Written once and kept for years: the best compression is worth its few milliseconds.
    if process_id is None:
        return gzip.compress(text.encode("utf-8"), 9, mtime=0)
    from .state_dictionary import compress
    return compress(text.encode("utf-8"), process_id)


def load_state(blob: bytes, spec, subprocess_specs, script_engine):
    if blob[:2] == b"SD":  # a finished state compressed with its process's dictionary
        from .state_dictionary import decompress
        blob = decompress(blob)
    else:
        blob = gzip.decompress(blob)
    dct = json.loads(blob)
    version = dct.pop("serializer_version", None)
    if version in ("path-1", "path-2"):
        from .finished import FinishedWorkflow
        dct["data"] = _SERIALIZER.registry.restore(dct.get("data") or {})
        return FinishedWorkflow(dct, spec, subprocess_specs)
    if version in READ_FORMATS:
        serializer = _SERIALIZER
    elif version == LEGACY_FORMAT:
        serializer = _LEGACY
    else:
        raise ValueError(f"unknown workflow state format {version!r}")
    workflow = serializer.registry.restore(dct, spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = script_engine
    return workflow
