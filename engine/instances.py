"""Process instances: start, advance one step at a time, persist with an optimistic lock.

One step = load the instance, change it (complete a task, deliver a message, fire a
timer), run the engine to its next wait, save. Everything the step changed (state, human
tasks, timers, subscriptions, audit events, domain rows written by handlers) commits in one
transaction or not at all. A concurrent writer of the same instance gets `Conflict`.
"""
from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from flask import current_app
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.exc import StaleDataError

from . import audit, caches, clock, definitions, jobs
from .db import Prepared, UTCDateTime, db, session_connection
from .exceptions import Conflict, EngineError, InvalidData, NotFound
from .script_engine import EngineScriptEngine, StepInfo, current_step
from .serializer import dump_finished, dump_state, load_state
from .workflow import EngineWorkflow

IN_PROGRESS, COMPLETED, INCIDENT, TERMINATED = "in_progress", "completed", "incident", "terminated"


class StepBudgetExceeded(EngineError):
    """A run went past ENGINE_STEP_MAX_TASKS or ENGINE_STEP_MAX_SECONDS: it was rolled back to
    the last save and the instance is an incident naming the element it had reached."""
    status = 409

    def __init__(self, message: str, task=None):
        super().__init__(message)
        self.task = task


class ProcessInstance(db.Model):
    __tablename__ = "process_instance"
    __table_args__ = (
        sa.Index("ix_instance_process_status", "process_id", "status"),
        # Lists of instances in one status (newest first), alone or in a region.
        sa.Index("ix_instance_status_created", "status", "created_at", "id"),
        sa.Index("ix_instance_status_region_created", "status", "region", "created_at", "id"),
        # Retention finds the finished instances not yet compacted, oldest first.
        sa.Index("ix_instance_compaction", "compacted_at", "status", "completed_at"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    definition_id = sa.Column(sa.Integer, sa.ForeignKey("process_definition.id"), nullable=False,
                              index=True)
    process_id = sa.Column(sa.String(200), nullable=False)
    business_key = sa.Column(sa.String(200), index=True)
    region = sa.Column(sa.String(20), index=True)
    status = sa.Column(sa.String(20), nullable=False)
    state = sa.Column(sa.LargeBinary, nullable=False)
    version = sa.Column(sa.Integer, nullable=False)
    started_by = sa.Column(sa.String(200), nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False)
    updated_at = sa.Column(UTCDateTime, nullable=False)
    completed_at = sa.Column(UTCDateTime)
    incident_task_id = sa.Column(sa.String(36))
    incident_task_name = sa.Column(sa.String(300))
    incident_error_type = sa.Column(sa.String(200))
    incident_message = sa.Column(sa.Text)
    incident_at = sa.Column(UTCDateTime)
    compacted_at = sa.Column(UTCDateTime)  # when retention replaced the task tree by the path taken

    __mapper_args__ = {"version_id_col": version}

    def summary(self):
        return {"id": self.id, "process_id": self.process_id, "definition_id": self.definition_id,
                "business_key": self.business_key, "region": self.region, "status": self.status,
                "version": self.version, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat(),
                "completed_at": self.completed_at.isoformat() if self.completed_at else None,
                "incident": self.incident()}

    def incident(self):
        if self.status != INCIDENT:
            return None
        return {"task_id": self.incident_task_id, "task": self.incident_task_name,
                "error_type": self.incident_error_type, "message": self.incident_message,
                "at": self.incident_at.isoformat() if self.incident_at else None}


@dataclass(frozen=True)
class Index:
    """A table derived from an instance's state (human tasks, timers, message subscriptions),
    kept by its own module: `sync(row, workflow, is_new)` rewrites it on every save;
    `remember(row, workflow)`, when given, notes what it held as a workflow is restored."""

    name: str
    order: int  # indexes sync in this order, whatever order their modules were imported in
    sync: Callable[[ProcessInstance, BpmnWorkflow, bool], None]
    remember: Callable[[ProcessInstance, BpmnWorkflow], None] | None = None


_INDEXES: dict[str, Index] = {}


def register_index(index: Index) -> None:
    """An index module registers itself on import, so saving needs no import of it."""
    _INDEXES[index.name] = index


def _indexes() -> list[Index]:
    if not _INDEXES:
        raise RuntimeError("no instance index is registered: import engine.models first")
    return sorted(_INDEXES.values(), key=lambda index: index.order)


def start(process_id: str, data: dict, actor: str = "system", business_key: str | None = None,
          commit: bool = True, instance_id: str | None = None) -> ProcessInstance:
    """Start the newest version of `process_id` and run it to its first wait state.

    `instance_id` lets a caller write rows that refer to the instance before it runs.
    With `commit=True` the start is its own transaction (the session must hold nothing else
    uncommitted: a run past its budget rolls the transaction back); with `commit=False` it
    joins the caller's, undone to a savepoint if it goes past its budget.
    """
    definition = definitions.current(process_id, current_app.config["DEFINITION_CACHE_SECONDS"])
    if definition is None:
        raise NotFound(f"no deployed process {process_id!r}")
    _refuse_reserved_keys(data)
    initial = copy.deepcopy(data)  # the state to keep if the first run goes past its budget
    workflow = _new_workflow(definition, data)
    now = clock.now()
    fields = dict(id=instance_id or str(uuid.uuid4()), definition_id=definition.id, process_id=process_id,
                  business_key=business_key, region=_region(data), status=IN_PROGRESS,
                  started_by=actor, created_at=now, updated_at=now, state=b"", version=1)
    row = ProcessInstance(**fields)
    _attach_new(row)
    audit.record("instance_started", actor=actor, instance_id=row.id,
                 details={"process_id": process_id, "version": definition.version,
                          "business_key": business_key})
    with _running(row, actor) as info:
        # With commit=True the start is the whole transaction: a run past its budget rolls all
        # of it back (no savepoint to pay for on every start); with commit=False the caller's
        # transaction holds other work, so the run is undone to a savepoint only.
        savepoint = None if commit else db.session.begin_nested()
        try:
            advance(row, workflow, actor)
            save(row, workflow, is_new=True)
            if savepoint is not None:
                savepoint.commit()
        except StepBudgetExceeded as err:
            # Kept as it was accepted, not run: an incident an operator retries once the
            # diagram or the budget is fixed.
            if savepoint is not None:
                savepoint.rollback()
            else:
                db.session.rollback()
            if row in db.session:
                db.session.expunge(row)
            row = ProcessInstance(**fields)
            _attach_new(row)
            if savepoint is None:  # the whole transaction went, the start's event with it
                audit.record("instance_started", actor=actor, instance_id=row.id,
                             details={"process_id": process_id, "version": definition.version,
                                      "business_key": business_key})
            workflow = _new_workflow(definition, initial)
            info.instance_id = row.id
            _mark_budget_incident(row, err, actor)
            save(row, workflow, is_new=True)
    if commit:
        _commit(row, workflow)
        _wake_workers(info)
    return row


def _new_workflow(definition, data) -> BpmnWorkflow:
    spec, subprocess_specs = definitions.spec_for(definition)
    workflow = EngineWorkflow(spec, subprocess_specs, script_engine=script_engine())
    workflow.task_tree.data.update(data)
    # Who completed each user task (by BPMN id): diagrams cite it, e.g. as the decision's author.
    workflow.task_tree.data.setdefault("completed_by", {})
    return workflow


@contextmanager
def step(instance_id: str, actor: str = "system", commit: bool = True):
    """Load an instance for one change; on exit run it to its next wait and save it.

    `with step(id, actor) as (row, workflow): ...` — an exception inside rolls everything back
    (with `commit=False` the caller's transaction is left to the caller, who rolls it back).
    """
    row = _fresh_row(instance_id)
    if row is None:
        raise NotFound(f"no process instance {instance_id!r}")
    workflow = load(row)
    # With commit=False the caller's transaction holds other work: a run past its budget is
    # undone to this savepoint only.
    savepoint = None if commit else db.session.begin_nested()
    try:
        with _running(row, actor) as info:
            yield row, workflow
            advance(row, workflow, actor)
            save(row, workflow)
        if savepoint is not None:
            savepoint.commit()
        if commit:
            _commit(row, workflow)
            _wake_workers(info)
    except StepBudgetExceeded as err:
        if savepoint is not None:
            savepoint.rollback()
        else:
            db.session.rollback()
        _record_budget_incident(instance_id, err, actor, commit)
        raise
    except StaleDataError as err:
        if commit:  # with commit=False the caller owns the transaction (and its savepoints)
            db.session.rollback()
        raise Conflict(f"instance {instance_id} was changed by someone else; reload and try again") from err
    except BaseException:
        if commit:
            db.session.rollback()
        raise


def load(row: ProcessInstance) -> BpmnWorkflow:
    """The instance's workflow: from the in-process cache when it holds this very version."""
    if row.compacted_at is not None:
        raise Conflict(f"instance {row.id} is finished and compacted: it takes no more steps")
    workflow = live_workflows().take(row.id, row.version)
    if workflow is None:
        spec, subprocess_specs = definitions.spec_by_id(row.definition_id)
        workflow = load_state(row.state, spec, subprocess_specs, script_engine())
        for index in _indexes():
            if index.remember is not None:
                index.remember(row, workflow)
    return workflow


def peek(row: ProcessInstance) -> BpmnWorkflow:
    """The instance's workflow for reading only: restored from the stored state, leaving the
    live copy in the cache for the next step (a reader must not change what it gets)."""
    spec, subprocess_specs = definitions.spec_by_id(row.definition_id)
    return load_state(row.state, spec, subprocess_specs, script_engine())


@contextmanager
def looking_at(row: ProcessInstance):
    """`with looking_at(row) as workflow:` the instance's workflow, to read inside the block only.

    When the cache holds the live workflow of this very version (the step that just ran, as a
    start or a completion answers), it is borrowed rather than restored from the stored state:
    taken out for the block, so no step in another thread changes it while it is read (that
    step restores its own copy), and given back after unless a newer one took its place. A
    reader must not change what it gets, as with `peek`.
    """
    cache = live_workflows()
    workflow = cache.take(row.id, row.version) if row.compacted_at is None else None
    if workflow is None:
        yield peek(row)
        return
    try:
        yield workflow
    finally:
        cache.put(row.id, row.version, workflow, current_app.config["WORKFLOW_CACHE_SIZE"], over_newer=False)


def advance(row: ProcessInstance, workflow: BpmnWorkflow, actor: str = "system") -> None:
    """Run every automatic task that can run; a failure becomes an incident, keeping prior work."""
    if row.status in (INCIDENT, TERMINATED):
        return
    config = current_app.config
    budget = _Budget(config["ENGINE_STEP_MAX_TASKS"], config["ENGINE_STEP_MAX_SECONDS"])
    try:
        while True:
            # do_engine_steps ends by refreshing timers, so a timer that is due becomes READY
            # there and runs on the next turn; refreshing first would walk the tree twice.
            workflow.do_engine_steps(will_complete_task=budget.spend)
            if not any(not t.task_spec.manual for t in all_tasks(workflow, TaskState.READY)):
                break
            budget.check(None)
    except WorkflowException as err:
        _raise_incident(row, workflow, err, actor)


class _Budget:
    """What one run may spend: tasks executed and wall time (ENGINE_STEP_MAX_*)."""

    def __init__(self, max_tasks: int, max_seconds: float):
        self.max_tasks, self.max_seconds = int(max_tasks), float(max_seconds)
        self.spent = 0
        self.started = time.monotonic()

    def spend(self, task) -> None:
        self.spent += 1
        self.check(task)

    def check(self, task) -> None:
        elapsed = time.monotonic() - self.started
        if self.spent > self.max_tasks or elapsed > self.max_seconds:
            where = _element_name(task) if task is not None else "the diagram"
            raise StepBudgetExceeded(
                f"step budget exceeded at {where}: {self.spent} tasks in {elapsed:.1f}s "
                f"(ENGINE_STEP_MAX_TASKS {self.max_tasks}, ENGINE_STEP_MAX_SECONDS {self.max_seconds:g})",
                task)


def retry(instance_id: str, actor: str) -> ProcessInstance:
    """Put the failed task back to READY and run on (an operator's answer to an incident)."""
    with step(instance_id, actor) as (row, workflow):
        if row.status != INCIDENT:
            raise Conflict(f"instance {instance_id} has no incident to retry")
        for task in list(all_tasks(workflow, TaskState.ERROR)):
            task._set_state(TaskState.READY)
        jobs.requeue_failed(row.id)  # a task that still waits for a failed job gets it back
        audit.record("incident_retried", actor=actor, instance_id=row.id,
                     task_id=row.incident_task_id, details={"message": row.incident_message})
        _clear_incident(row)
    return row


def cancel(instance_id: str, actor: str, reason: str, commit: bool = True) -> ProcessInstance:
    """End a running instance where it stands (a withdrawn application): every open task,
    timer and subscription goes with it; the state is kept for the record."""
    with step(instance_id, actor, commit=commit) as (row, workflow):
        if row.status in (COMPLETED, TERMINATED):
            raise Conflict(f"instance {instance_id} has already ended ({row.status})")
        workflow.cancel()
        jobs.cancel_for_instance(row.id)
        row.status, row.completed_at = TERMINATED, clock.now()
        audit.record("instance_cancelled", actor=actor, instance_id=row.id, details={"reason": reason})
    return row


def save(row: ProcessInstance, workflow: BpmnWorkflow, is_new: bool = False) -> None:
    """Write state and every index derived from it into the current transaction.

    `is_new`: the instance was created in this transaction, so it has no index rows yet.
    """
    now = clock.now()
    changes = {"updated_at": now}
    if row.status not in (INCIDENT, TERMINATED):
        if workflow.is_completed() and not _reached_an_end(workflow):
            _raise_incident(row, workflow, WorkflowException(
                "the workflow has no task left to run but reached no end event"), "system")
        elif workflow.is_completed():
            if row.status != COMPLETED:
                changes.update(status=COMPLETED, completed_at=now)
                audit.record("instance_completed", actor="system", instance_id=row.id)
        else:
            changes["status"] = IN_PROGRESS
    data = current_data(workflow)
    if changes.get("status") == COMPLETED and current_app.config["ENGINE_COMPACT_ON_FINISH"]:
        # It never runs again: keep its data and the path it took (engine/finished.py), in the
        # transaction that finishes it, rather than the task tree until retention's pass.
        changes.update(state=dump_finished(workflow, data, row.process_id), compacted_at=now)
    else:
        changes["state"] = dump_state(workflow)
    region = _region(data)
    if region:
        changes["region"] = region
    _write_row(row, changes, is_new)
    for index in _indexes():  # human tasks, timers, message subscriptions follow the state
        index.sync(row, workflow, is_new)


def current_data(workflow: BpmnWorkflow) -> dict:
    """The case data as it stands now: final data when done, else the newest task's data."""
    if workflow.is_completed() and workflow.data:
        return workflow.data
    # The frontier (what waits or can run) carries the newest data of each branch; deeper
    # tasks were reached later, so their values win where branches differ.
    frontier = sorted(all_tasks(workflow, TaskState.READY | TaskState.WAITING | TaskState.STARTED |
                                TaskState.ERROR), key=lambda t: t.depth)
    if not frontier:
        last = workflow.last_task
        return last.data if last is not None else workflow.task_tree.data
    merged = {}
    for task in frontier:
        merged.update(task.data)
    return merged


def all_tasks(workflow: BpmnWorkflow, state: int = TaskState.ANY_MASK):
    """Tasks of the workflow and its subprocesses in `state`, by a flat scan.

    SpiffWorkflow's get_tasks() walks the task tree with an iterator that dominated the
    engine's profile; the flat dictionaries hold the same tasks.
    """
    for task in workflow.tasks.values():
        if task.state & state:
            yield task
    for subprocess in workflow.subprocesses.values():
        for task in subprocess.tasks.values():
            if task.state & state:
                yield task


def get(instance_id: str) -> ProcessInstance:
    row = db.session.get(ProcessInstance, instance_id)
    if row is None:
        raise NotFound(f"no process instance {instance_id!r}")
    return row


def incidents() -> list[ProcessInstance]:
    return list(db.session.execute(sa.select(ProcessInstance).filter_by(status=INCIDENT)
                                   .order_by(ProcessInstance.incident_at)).scalars())


def script_engine() -> EngineScriptEngine:
    app = current_app._get_current_object()
    engine = app.extensions.get("script_engine")
    if engine is None:
        engine = EngineScriptEngine(functions=app.extensions.get("expression_functions", {}),
                                    max_power=app.config["EXPRESSION_MAX_POWER"],
                                    max_size=app.config["EXPRESSION_MAX_SIZE"],
                                    max_cardinality=app.config["ENGINE_MAX_CARDINALITY"])
        app.extensions["script_engine"] = engine
    return engine


@contextmanager
def _running(row, actor):
    info = StepInfo(session=db.session, config=current_app.config, instance_id=row.id,
                    process_id=row.process_id, actor=actor)
    token = current_step.set(info)
    try:
        yield info
    finally:
        current_step.reset(token)


def _wake_workers(info) -> None:
    if info.new_jobs:
        jobs.wake()


def _reached_an_end(workflow) -> bool:
    """A finished workflow is complete only when an end event of its process ran: a walk that
    stopped early must never pass for the end of a case."""
    for task in workflow.tasks.values():
        if task.state == TaskState.COMPLETED and isinstance(task.task_spec, EndEvent) \
                and task.task_spec.bpmn_id is not None:
            return True
    return False


def _record_budget_incident(instance_id, err, actor, commit) -> None:
    """After the run was undone: the instance, as last saved, becomes an incident."""
    row = db.session.get(ProcessInstance, instance_id, populate_existing=True)
    workflow = load(row)
    with _running(row, actor):
        _mark_budget_incident(row, err, actor)
        save(row, workflow)
    if commit:
        _commit(row, workflow)


def _mark_budget_incident(row, err, actor) -> None:
    task = err.task
    mark_incident(row, task, "StepBudgetExceeded", str(err), actor,
                  task_name=_element_name(task) if task is not None else None)


def _element_name(task) -> str:
    spec = task.task_spec
    return f"{spec.bpmn_name or spec.bpmn_id} ({spec.bpmn_id})" if spec.bpmn_name else str(spec.bpmn_id or spec.name)


def _commit(row, workflow):
    db.session.flush()
    values = _loaded_values(row)  # read before commit expires the row
    db.session.commit()
    # What this transaction wrote is what the database holds: keep the row loaded, so the
    # caller and the next step read it without a query (the next step checks its version).
    _set_committed(row, values)
    if row.compacted_at is None:  # a compacted instance takes no more steps
        live_workflows().put(row.id, row.version, workflow, current_app.config["WORKFLOW_CACHE_SIZE"])


# The instance row is written with prepared statements (engine.db.Prepared), not the unit of
# work: it is written once or twice per step, and the ORM's flush cost more than the engine's
# own work (and Core's general execution path about twice the database's for each statement).
_TABLE = ProcessInstance.__table__
_COLUMNS = tuple(c.key for c in _TABLE.columns)
_INSERT = Prepared(_TABLE.insert())
_UPDATES: dict[tuple, Prepared] = {}
_VERSION = Prepared(sa.select(_TABLE.c.version).where(_TABLE.c.id == sa.bindparam("row_id")))
_ALWAYS_WRITTEN = ("state", "updated_at")


def _attach_new(row):
    """Make the new instance object persistent and clean in the session without SQL: its
    INSERT waits for its first save (no row refers to it before the indexes are written)."""
    loaded = sa.inspect(row).dict
    for key in _COLUMNS:
        if key not in loaded:
            setattr(row, key, None)  # unset columns become None, loaded, not expired
    make_transient_to_detached(row)
    db.session.add(row)


def _write_row(row, changes, is_new):
    """INSERT a new row, or UPDATE the columns that changed, guarded by the version (the
    optimistic lock). The values are then set on the object as committed, so the ORM does not
    write them again.

    Only changed columns are written: an unchanged indexed column costs no index update.
    """
    if is_new:
        values = {c: getattr(row, c) for c in _COLUMNS}
        values.update(changes, version=1)
        _INSERT.execute(session_connection(), values)
    else:
        modified = sa.inspect(row).committed_state  # attributes the step set on the object
        values = {c: getattr(row, c) for c in modified if c in _TABLE.c}
        for key, value in changes.items():
            if key in _ALWAYS_WRITTEN or key in values or getattr(row, key) != value:
                values[key] = value
        expected = row.version
        values["version"] = expected + 1
        params = dict(values, row_id=row.id, expected=expected)
        if _update(tuple(sorted(values))).execute(session_connection(), params).rowcount != 1:
            raise StaleDataError(f"instance {row.id} was changed since version {expected}")
    _set_committed(row, values)


def _set_committed(row, values: dict) -> None:
    """Set column values on the row as loaded from the database (no history, not expired):
    SQLAlchemy's set_committed_value for several columns at once (a step sets about twenty)."""
    state = sa.inspect(row)
    state.dict.update(values)
    state._commit(state.dict, list(values))


def _update(columns):
    statement = _UPDATES.get(columns)
    if statement is None:
        statement = _UPDATES[columns] = Prepared(
            _TABLE.update()
            .where(_TABLE.c.id == sa.bindparam("row_id"), _TABLE.c.version == sa.bindparam("expected"))
            .values({c: sa.bindparam(c) for c in columns}))
    return statement


def _fresh_row(instance_id):
    """The instance row as the database holds it now.

    A row this session committed is still loaded: one version query tells whether it is
    current (and reloads it if not) instead of reading the whole row again.
    """
    row = db.session.identity_map.get(db.session.identity_key(ProcessInstance, instance_id))
    if row is not None and not sa.inspect(row).expired_attributes and not sa.inspect(row).modified:
        current = _VERSION.execute(session_connection(), {"row_id": instance_id}).scalar()
        if current is None:
            return None
        if current != row.version:
            db.session.refresh(row)
        return row
    return db.session.get(ProcessInstance, instance_id)


def _loaded_values(row):
    loaded = sa.inspect(row).dict
    return {c: loaded[c] for c in _COLUMNS if c in loaded}


def _raise_incident(row, workflow, err, actor):
    failed = list(all_tasks(workflow, TaskState.ERROR))
    task = failed[0] if failed else getattr(err, "task", None)
    # SpiffWorkflow raises its expression errors inside `except`, so the original is the context.
    cause = getattr(err, "exception", None) or err.__cause__ or err.__context__ or err
    cause = getattr(cause, "error", cause)  # unwrap OperatorFailed to the handler's own error
    message = str(err)
    if cause is not err and type(cause).__name__ not in message:
        message = f"{message.rstrip('. ')}: {type(cause).__name__}: {cause}"
    mark_incident(row, task, type(cause).__name__, message, actor)


def mark_incident(row, task, error_type: str, message: str, actor: str, task_name: str | None = None) -> None:
    """Put the instance into an incident at `task` (audited); the step's save records it."""
    row.status = INCIDENT
    row.incident_task_id = str(task.id) if task is not None else None
    row.incident_task_name = task_name or ((task.task_spec.bpmn_name or task.task_spec.bpmn_id)
                                           if task is not None else None)
    row.incident_error_type = error_type
    row.incident_message = message[:4000]
    row.incident_at = clock.now()
    audit.record("incident_raised", actor=actor, instance_id=row.id, task_id=row.incident_task_id,
                 details={"task": row.incident_task_name, "error_type": row.incident_error_type,
                          "message": row.incident_message})


def _clear_incident(row):
    row.status = IN_PROGRESS
    row.incident_task_id = row.incident_task_name = row.incident_error_type = None
    row.incident_message = None
    row.incident_at = None


def _region(data) -> str | None:
    value = (data or {}).get(current_app.config["REGION_DATA_KEY"])
    return value if isinstance(value, str) else None


def _refuse_reserved_keys(data):
    bad = [k for k in data if not isinstance(k, str) or k.startswith("__")]
    if bad:
        raise InvalidData("instance data keys may not start with '__'",
                          {str(k): ["reserved name"] for k in bad})


class _WorkflowCache:
    """Live workflows of recently saved instances, keyed by the version they were saved as.

    A step takes a workflow out (so no two steps share one) and puts it back only after its
    commit succeeded; a stale version is never used because the database row says which is current.
    """

    def __init__(self):
        self._items: OrderedDict[str, tuple[int, BpmnWorkflow]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id, version):
        with self._lock:
            item = self._items.pop(instance_id, None)
        if item is not None and item[0] == version:
            return item[1]
        return None

    def put(self, instance_id, version, workflow, size, over_newer=True):
        """Keep a step's workflow; `over_newer=False` (a workflow taken only to be read, given
        back) keeps it only if no step put another one for the instance meanwhile."""
        from .isolation import active
        if active():
            return  # a rehearsal's instances vanish with its rollback
        with self._lock:
            if size > 0 and (over_newer or instance_id not in self._items):
                self._items[instance_id] = (version, workflow)
            while len(self._items) > size:
                self._items.popitem(last=False)

    def clear(self):
        with self._lock:
            self._items.clear()

    def __len__(self):
        return len(self._items)


def live_workflows() -> _WorkflowCache:
    """The live workflows of running instances kept between steps (the application's)."""
    return caches.get("instances.live_workflows", _WorkflowCache)
