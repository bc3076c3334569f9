"""A finished instance, compacted: its final data and the path it took, not the task tree.

A finished workflow never runs again; what its readers need (the case page, GET /cases/{id},
the diagram's highlighted path) is its data and which elements it passed and how they ended.
`compact(workflow)` keeps exactly that; `FinishedWorkflow` answers the readers' questions
(`data`, `tasks`, `get_task_from_id`, `is_completed`, `get_tasks`) from it, with the real task
specs of the definition, so code that reads a workflow reads either.

Format "path-2" keeps a task's id only where a reader may ask for it: a user task (its
human-task row names it) and a task that did not complete (where the instance stopped). A
completed automatic task is its spec name and state; it gets a stand-in id when read (its data
is the final data either way). Format "path-1" (every id kept) is still read.
"""
from __future__ import annotations

from uuid import UUID

from SpiffWorkflow.util.task import TaskState

FORMAT = "path-2"
FORMATS = ("path-1", FORMAT)
# States worth keeping: the path (completed), where it stopped (error, a step cut short).
KEPT = TaskState.COMPLETED | TaskState.ERROR | TaskState.READY | TaskState.WAITING | TaskState.STARTED


def compact(workflow, data: dict) -> dict:
    """The stored form of a finished workflow: its final data, its path, whether it completed."""
    path = []
    for task in _tasks(workflow):
        if task.state & KEPT and getattr(task.task_spec, "bpmn_id", None):
            state = int(task.state)
            if state == TaskState.COMPLETED and not task.task_spec.manual:
                path.append([task.task_spec.name, state])
            else:
                path.append([task.task_spec.name, state, str(task.id)])
    return {"serializer_version": FORMAT, "data": data, "path": path, "completed": workflow.is_completed()}


def _tasks(workflow):
    """Every task of the workflow and its subprocesses, by a flat scan (as instances.all_tasks)."""
    yield from workflow.tasks.values()
    for subprocess in workflow.subprocesses.values():
        yield from subprocess.tasks.values()


class FinishedTask:
    """One element the instance passed, with its spec; it carries the final data."""

    __slots__ = ("id", "task_spec", "state", "data", "depth", "parent", "children")

    def __init__(self, task_id: UUID, task_spec, state: int, data: dict):
        self.id, self.task_spec, self.state, self.data = task_id, task_spec, state, data
        self.depth, self.parent, self.children = 0, None, []


class FinishedWorkflow:
    """What readers of a workflow ask of it, answered from the compacted form."""

    def __init__(self, stored: dict, spec, subprocess_specs):
        self.data = stored.get("data") or {}
        self.spec = spec
        self.subprocess_specs = subprocess_specs or {}
        self.subprocesses = {}
        self._completed = bool(stored.get("completed"))
        specs = dict(spec.task_specs)
        for sub in (subprocess_specs or {}).values():
            for name, task_spec in sub.task_specs.items():
                specs.setdefault(name, task_spec)
        self.tasks = {}
        legacy = stored.get("serializer_version") == "path-1"
        for position, entry in enumerate(stored.get("path") or []):
            if legacy:
                task_id, spec_name, state = entry
            else:
                spec_name, state, task_id = (entry + [None])[:3]
            task_spec = specs.get(spec_name)
            if task_spec is not None:
                # A stand-in id no real task has (version-less, so never a uuid4).
                uid = UUID(task_id) if task_id else UUID(int=position + 1)
                self.tasks[uid] = FinishedTask(uid, task_spec, state, self.data)
        self.task_tree = FinishedTask(UUID(int=0), spec.start if hasattr(spec, "start") else None,
                                      TaskState.COMPLETED, self.data)
        self.last_task = next(reversed(self.tasks.values()), None) if self.tasks else None
        self.script_engine = None

    def is_completed(self) -> bool:
        return self._completed

    def get_task_from_id(self, task_id):
        return self.tasks.get(task_id if isinstance(task_id, UUID) else UUID(str(task_id)))

    def get_tasks(self, first_task=None, state=TaskState.ANY_MASK, spec_name=None, manual=None, **_):
        return [t for t in self.tasks.values() if t.state & state
                and (spec_name is None or t.task_spec.name == spec_name)
                and (manual is None or bool(t.task_spec.manual) == manual)]
