"""A finished instance, compacted: its final data and the path it took, not the task tree.

A finished workflow never runs again; what its readers need (the case page, GET /cases/{id},
the diagram's highlighted path) is its data and which elements it passed and how they ended.
`compact(workflow)` keeps exactly that (format "path-1"); `FinishedWorkflow` answers the
readers' questions (`data`, `tasks`, `get_task_from_id`, `is_completed`) from it, with the
real task specs of the definition, so code that reads a workflow reads either.
"""
from __future__ import annotations

from uuid import UUID

from SpiffWorkflow.util.task import TaskState

FORMAT = "path-1"
# States worth keeping: the path (completed), where it stopped (error, a step cut short).
KEPT = TaskState.COMPLETED | TaskState.ERROR | TaskState.READY | TaskState.WAITING | TaskState.STARTED


def compact(workflow, data: dict) -> dict:
    """The stored form of a finished workflow: its final data, its path, whether it completed."""
    path = [[str(task.id), task.task_spec.name, int(task.state)]
            for task in _tasks(workflow) if task.state & KEPT and getattr(task.task_spec, "bpmn_id", None)]
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
        self.subprocesses = {}
        self._completed = bool(stored.get("completed"))
        specs = dict(spec.task_specs)
        for sub in (subprocess_specs or {}).values():
            for name, task_spec in sub.task_specs.items():
                specs.setdefault(name, task_spec)
        self.tasks = {}
        for task_id, spec_name, state in stored.get("path") or []:
            task_spec = specs.get(spec_name)
            if task_spec is not None:
                uid = UUID(task_id)
                self.tasks[uid] = FinishedTask(uid, task_spec, state, self.data)
        self.task_tree = FinishedTask(UUID(int=0), spec.start if hasattr(spec, "start") else None,
                                      TaskState.COMPLETED, self.data)
        self.last_task = next(reversed(self.tasks.values()), None) if self.tasks else None
        self.script_engine = None

    def is_completed(self) -> bool:
        return self._completed

    def get_task_from_id(self, task_id):
        return self.tasks.get(task_id if isinstance(task_id, UUID) else UUID(str(task_id)))

    def get_tasks(self, state=TaskState.ANY_MASK, **_):
        return [t for t in self.tasks.values() if t.state & state]
