"""The workflow class the engine runs: SpiffWorkflow's BpmnWorkflow with a faster task search.

SpiffWorkflow finds tasks (the READY ones to run, the WAITING ones to refresh after every
completion, the branches a parallel join waits for) with `TaskIterator`, which rebuilds a
list per visited task and walks parents to track depth; in the engine's profile it was the
largest single cost of running a diagram. `EngineWorkflow` answers the common searches (by
state, task spec name and manual flag) with a plain depth-first walk that visits the same
tasks in the same order and prunes the same branches; any other search goes to SpiffWorkflow.
When a scan of the flat task dictionaries finds no match, or one the walk would reach, that
is the answer without the walk (most searches while a diagram runs).

A new workflow's predicted task tree depends on its spec only: it is worked out once per spec
and copied for each new instance (`_Predicted`).

ENGINE_CHECK_TASK_SEARCH=1 in the environment compares every answer with SpiffWorkflow's, and
every copied tree with the one SpiffWorkflow predicts.

SpiffWorkflow also builds a log record's details (task names, ids, state names, and for the
workflow a walk of every task) on every state change, before the logger decides to drop it:
its `spiff.*` loggers log at INFO, which the service does not enable, yet that work was a
tenth of running a diagram. The engine's tasks (`EngineTask`) and workflow build them only
when the logger would write them; with INFO enabled the records are SpiffWorkflow's own.

A task of the engine's workflow is numbered in the order it was made (`task_number`), and its
id is derived from that number and the workflow's random key (`derived_task_id`), not drawn at
random: the stored state then names a task by its number, a few bytes, rather than by 36
characters that do not compress (engine/serializer.py). The ids are as unguessable and as
unique as random ones (the key is 16 random bytes per workflow; numbers are never reused, also
when a branch is reset).
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from uuid import UUID, SafeUUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskIterator, TaskState

_FAST_KEYS = frozenset({"state", "spec_name", "manual"})
_CHECK = os.environ.get("ENGINE_CHECK_TASK_SEARCH") == "1"
_NO_LIMIT = 10 ** 9


def _min_state(state):
    """The lowest state of a task whose descendants a search for `state` looks at."""
    if state & TaskState.PREDICTED_MASK:
        return TaskState.MAYBE
    if state & TaskState.DEFINITE_MASK:
        return TaskState.FUTURE
    return TaskState.COMPLETED


def search(start, state=TaskState.ANY_MASK, spec_name=None, manual=None, into_subprocesses=True):
    """Tasks under `start` (itself included) in `state`, depth first, as SpiffWorkflow orders them.

    Like SpiffWorkflow's iterators, it does not descend below tasks whose state rules out
    matches underneath (a finished branch holds no predicted tasks), nor into a finished
    subprocess when only unfinished tasks are asked for. It is lazy in the same way: a task's
    state and children are read when the walk reaches it, so a caller may change later tasks.
    """
    min_state = _min_state(state)
    skip_finished_subprocesses = state <= TaskState.FINISHED_MASK
    subprocesses = start.workflow.top_workflow.subprocesses if into_subprocesses else {}
    # No depth limit (SpiffWorkflow's iterators stop at 1000): a long-running cycle must not
    # make later tasks invisible, and the walk is iterative, so depth costs no recursion.
    stack = [start]
    pop, push = stack.pop, stack.append
    while stack:
        task = pop()
        subprocess = subprocesses.get(task.id) if subprocesses else None
        task_state = task._state
        if (task._children or subprocess is not None) and \
                (task_state >= min_state or subprocess is not None):
            tasks = task.workflow.tasks
            below = [tasks.get(child) for child in task._children]
            if subprocess is not None and not (task_state >= TaskState.FINISHED_MASK and skip_finished_subprocesses):
                below.insert(0, subprocess.task_tree)
            for child in reversed(below):
                push(child)
        if task_state & state:
            spec = task.task_spec
            if (manual is None or spec.manual == manual) and (spec_name is None or spec.name == spec_name):
                yield task


_VERSION_4 = (~(0xF000 << 64) & ~(0xC000 << 48), (4 << 76) | (0x8000 << 48))  # as UUID(version=4) sets
_set = object.__setattr__


def derived_task_id(key: bytes, number: int) -> UUID:
    """The id of a workflow's task `number` under the workflow's 16-byte `key`: a version-4 UUID
    made of a keyed BLAKE2b hash (what UUID(bytes=..., version=4) makes, in half the time)."""
    value = int.from_bytes(hashlib.blake2b(number.to_bytes(8, "big"), digest_size=16, key=key).digest(), "big")
    task_id = object.__new__(UUID)
    _set(task_id, "int", value & _VERSION_4[0] | _VERSION_4[1])
    _set(task_id, "is_safe", SafeUUID.unknown)
    return task_id


def descends(task, ancestor) -> bool:
    """Whether `ancestor` is above `task` in its workflow (SpiffWorkflow's Task.is_descendant_of,
    whose recursion reads the `parent` property three times a level; joins ask this of every
    task of their spec on each update). Any task: a subprocess's plain Tasks too."""
    tasks = task.workflow.tasks
    parent = tasks.get(task._parent)
    while parent is not None:
        if parent is ancestor:
            return True
        parent = tasks.get(parent._parent)
    return False


_TASK_LOG = logging.getLogger("spiff.task")
_WORKFLOW_LOG = logging.getLogger("spiff.workflow")


class EngineTask(Task):
    """SpiffWorkflow's Task, whose children are EngineTasks and whose state changes build their
    log record only when the `spiff.task` logger would write it."""

    task_number = None  # None: a task restored from a state that named it by its id

    def _add_child(self, task_spec, state=TaskState.MAYBE):
        if self.has_state(TaskState.PREDICTED_MASK) and state & TaskState.PREDICTED_MASK == 0:
            raise WorkflowException('Attempt to add non-predicted child to predicted task', task_spec=self.task_spec)
        number, task_id = self.workflow.new_task_id()
        task = EngineTask(self.workflow, task_spec, self, state=state, id=task_id)
        task.task_number = number
        task.thread_id = self.thread_id
        if state == TaskState.READY:
            task._ready()
        return task

    def is_descendant_of(self, task) -> bool:
        return descends(self, task)

    def _set_state(self, value):
        if value != self._state:
            elapsed = time.time() - self.last_state_change
            self.last_state_change = time.time()
            self._state = value
            if _TASK_LOG.isEnabledFor(logging.INFO):
                _TASK_LOG.info(f'State changed to {TaskState.get_name(value)}',
                               extra=self.collect_log_extras({'elapsed': elapsed}))
        elif _TASK_LOG.isEnabledFor(logging.DEBUG):
            _TASK_LOG.debug(f'State set to {TaskState.get_name(value)}', extra=self.collect_log_extras())


class EngineWorkflow(BpmnWorkflow):
    def __init__(self, spec, subprocess_specs=None, script_engine=None, deserializing=False, **kwargs):
        # SpiffWorkflow's Workflow.__init__ makes the root a plain Task: the tree is built here
        # instead, the same way, from an EngineTask (every task below it is one too).
        super().__init__(spec, subprocess_specs, script_engine=script_engine, deserializing=True, **kwargs)
        # Task ids: derived from this key and each task's number (the serializer restores both).
        self.task_key, self.next_task_number = os.urandom(16), 0
        if not deserializing:
            template = _predicted_tree(self.spec)
            if template is not None and not _TASK_LOG.isEnabledFor(logging.INFO):
                self.task_tree = template.build(self)
                if _CHECK:
                    expected = EngineWorkflow(spec, subprocess_specs, script_engine, deserializing=True)
                    _predict_tree(expected)
                    assert _Predicted(expected) == template, "a predicted tree differs from its template"
            else:
                _predict_tree(self)
            if _WORKFLOW_LOG.isEnabledFor(logging.INFO):
                _WORKFLOW_LOG.info('Initialized workflow', extra=self.collect_log_extras())
            self.task_tree._ready()

    def new_task_id(self) -> tuple[int, UUID]:
        """The next task's number and the id derived from it."""
        number = self.next_task_number
        self.next_task_number = number + 1
        return number, derived_task_id(self.task_key, number)

    def _mark_complete(self, task):
        if _WORKFLOW_LOG.isEnabledFor(logging.INFO):
            _WORKFLOW_LOG.info('Workflow completed', extra=self.collect_log_extras())
        self.data.update(task.data)
        self.completed = True

    def is_completed(self) -> bool:
        # SpiffWorkflow's own check stops looking 1000 tasks deep and would call a long case done.
        if not self.completed:
            self.completed = next(search(self.task_tree, state=TaskState.NOT_FINISHED_MASK,
                                         into_subprocesses=False), None) is None
        return self.completed

    def get_tasks(self, first_task=None, **kwargs):
        if kwargs.keys() <= _FAST_KEYS:
            found = None
            if first_task is None or first_task is self.task_tree:
                found = self._flat_search(**kwargs)
            if found is None:
                found = list(search(first_task or self.task_tree, **kwargs))
            if _CHECK:
                expected = list(BpmnTaskIterator(first_task or self.task_tree, max_depth=_NO_LIMIT, **kwargs))
                assert found == expected, f"task search differs for {kwargs}: {found} != {expected}"
            return found
        return super().get_tasks(first_task, **kwargs)

    def _flat_search(self, state=TaskState.ANY_MASK, spec_name=None, manual=None, subprocesses=True):
        """The answer of a search of the whole tree, from a scan of the flat task dictionaries
        when that settles it, else None (the walk must decide).

        The walk only ever yields tasks these dictionaries hold, so no match means none; one
        match is the answer when the walk reaches it (its ancestors are not pruned). Several
        matches need the walk for their order; so does a workflow with subprocesses, whose
        pruning follows their parent tasks. Most searches while a diagram runs find none or one.
        """
        if subprocesses and self.subprocesses:
            return None
        found = None
        for task in self.tasks.values():
            if task._state & state:
                spec = task.task_spec
                if (manual is None or spec.manual == manual) and (spec_name is None or spec.name == spec_name):
                    if found is not None:
                        return None
                    found = task
        if found is None:
            return []
        return [found] if self._reached(found, _min_state(state)) else None

    def tasks_of_spec(self, spec_name: str):
        """The tasks of a spec that `get_tasks(spec_name=...)` finds, in no particular order
        (None when it cannot tell without the walk: a workflow with subprocesses)."""
        if self.subprocesses:
            return None
        found = [task for task in self.tasks.values() if task.task_spec.name == spec_name]
        if not all(self._reached(task, TaskState.MAYBE) for task in found):
            return None
        if _CHECK:
            expected = self.get_tasks(spec_name=spec_name)
            assert sorted(map(id, found)) == sorted(map(id, expected)), f"tasks of {spec_name} differ"
        return found

    def _reached(self, task, min_state) -> bool:
        """Whether the walk from the root descends to `task` (no subprocesses on its way)."""
        tasks = self.tasks
        while task._parent is not None:
            parent = tasks.get(task._parent)
            if parent is None or parent._state < min_state or task.id not in parent._children:
                return False
            task = parent
        return task is self.task_tree

    def update_waiting_tasks(self):
        # SpiffWorkflow's own walk here stays inside this workflow (no subprocesses).
        if _CHECK:
            found = list(search(self.task_tree, state=TaskState.WAITING, into_subprocesses=False))
            expected = list(TaskIterator(self.task_tree, state=TaskState.WAITING, max_depth=_NO_LIMIT))
            assert found == expected, f"waiting tasks differ: {found} != {expected}"
        # Called after every completed task, mostly with nothing waiting: one waiting task is
        # updated alone; several are walked to in order, lazily (updating one may cancel another).
        waiting = self._flat_search(state=TaskState.WAITING, subprocesses=False)
        if waiting is not None:
            for task in waiting:
                task.task_spec._update(task)
            return
        for task in search(self.task_tree, state=TaskState.WAITING, into_subprocesses=False):
            task.task_spec._update(task)


def task_specs(spec, subprocess_specs=None):
    """Every task spec of a diagram: its process's, then each subprocess's (a workflow's are
    `task_specs(workflow.spec, workflow.subprocess_specs)`)."""
    yield from spec.task_specs.values()
    for sub in (subprocess_specs or {}).values():
        yield from sub.task_specs.values()


def _predict_tree(workflow) -> None:
    """SpiffWorkflow's start of a workflow: the root and every task predicted from the spec."""
    number, task_id = workflow.new_task_id()
    workflow.task_tree = EngineTask(workflow, workflow.spec.start, state=TaskState.FUTURE, id=task_id)
    workflow.task_tree.task_number = number
    workflow.task_tree.task_spec._predict(workflow.task_tree, mask=TaskState.NOT_FINISHED_MASK)


class _Predicted:
    """The tree SpiffWorkflow predicts for a new workflow of one spec, to build again for the next.

    Prediction reads only the spec (each task spec's outputs and the states it gives them), so
    every new workflow of a spec starts with the same tree; building it anew walked the diagram,
    creating and re-syncing tasks, for a fifth of running the sample diagram. A copy has the
    same tasks in the same order (task ids are new, as always), with empty data.
    """

    # The attributes of a SpiffWorkflow 3.2 task: a tree is copied only when a predicted task
    # holds exactly these, and nothing but its spec, state and place differs between tasks.
    ATTRIBUTES = frozenset({"id", "workflow", "_parent", "_children", "_state", "triggered", "task_spec",
                            "thread_id", "data", "internal_data", "last_state_change", "task_number"})

    def __init__(self, workflow):
        tasks = list(workflow.tasks.values())
        position = {task.id: n for n, task in enumerate(tasks)}
        self.rows = tuple((task.task_spec, task._state,
                           position[task._parent] if task._parent is not None else None,
                           tuple(position[child] for child in task._children)) for task in tasks)
        root = workflow.task_tree
        self.usable = bool(tasks) and tasks[0] is root and all(
            set(vars(task)) == self.ATTRIBUTES and type(task) is EngineTask and not task.data
            and not task.internal_data and not task.triggered and task.thread_id == root.thread_id
            and task._state & (TaskState.PREDICTED_MASK | TaskState.FUTURE)
            for task in tasks)

    def __eq__(self, other):
        return isinstance(other, _Predicted) and self.rows == other.rows

    def build(self, workflow):
        """The tree's tasks, new, in `workflow`; returns its root."""
        tasks, made = workflow.tasks, []
        thread_id, now = EngineTask.thread_id_pool, time.time()
        new = object.__new__
        for spec, state, parent, _ in self.rows:  # numbered as they are made
            task = new(EngineTask)
            number, task_id = workflow.new_task_id()
            task.__dict__.update(id=task_id, workflow=workflow, _parent=made[parent].id if parent is not None else None,
                                 _children=[], _state=state, triggered=False, task_spec=spec,
                                 thread_id=thread_id, data={}, internal_data={}, last_state_change=now,
                                 task_number=number)
            tasks[task_id] = task
            made.append(task)
        for task, (_, _, _, children) in zip(made, self.rows):
            task._children = [made[child].id for child in children]
        return made[0]


def _predicted_tree(spec) -> _Predicted | None:
    """The spec's predicted tree, worked out once (None when it cannot be copied)."""
    cached = spec.__dict__.get("_engine_predicted_tree", False)
    if cached is False:
        probe = EngineWorkflow(spec, deserializing=True)
        _predict_tree(probe)
        template = _Predicted(probe)
        cached = spec._engine_predicted_tree = template if template.usable else None
    return cached
