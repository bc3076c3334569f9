"""One read model of a case: what the API and the officers' case page both show.

Built from the case row (kind, numbers, outcome), the process instance (status), the
workflow (where the case stands, its data), the deadline records the diagrams keep
(engine/deadlines.py), the human tasks, the timer rows and the timer events of the audit
log. Views only render it: the API as JSON, the inbox as a page (labels translated there).

A deadline's state is decided here, once, by `deadline_state`:

    open       not yet due, nothing settled
    overdue    due time passed and the thing awaited still waits (open past due)
    met        done (or the case ended) at or before the due time
    missed     done (or the case ended) after the due time, or its timer fired first
    sent       a reminder (a time `local_time_on(..., of=...)` of another deadline) went out
    not needed a reminder whose wait ended before it was due
    passed     a reminder whose time passed while the case had no wait for it to remind of
    unknown    the record has no readable due time

`met` (the API's field) follows from the state: true for met, false for missed and overdue,
null otherwise (a reminder is sent or not, never met).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import (
    BoundaryEvent, EventBasedGateway, IntermediateCatchEvent, ReceiveTask)
from SpiffWorkflow.util.task import TaskState

from engine import audit, clock, instances
from engine.db import Prepared, db, session_connection
from engine.tasks import READY, HumanTask
from engine.timers import TIMER_CANCELLED, TIMER_FIRED, Timer
from engine.workflow import task_specs

OPEN, OVERDUE, MET, MISSED = "open", "overdue", "met", "missed"
SENT, NOT_NEEDED, PASSED, UNKNOWN = "sent", "not needed", "passed", "unknown"
DEADLINE_STATES = (OPEN, OVERDUE, MET, MISSED, SENT, NOT_NEEDED, PASSED, UNKNOWN)
_MET = {MET: True, MISSED: False, OVERDUE: False}
ENDED = (instances.COMPLETED, instances.TERMINATED)


@dataclass(frozen=True)
class Deadline:
    """A deadline record of the case data and its state."""
    name: str
    rule: str | None
    start: str | None
    due_at_text: str | None        # the record's due_at, in the calendar's zone, as kept
    calendar_version: str | None
    due: datetime | None           # the due instant (aware)
    state: str
    at: datetime | None = None     # when it was settled (done, fired, closed), if known
    reminder: bool = False

    @property
    def met(self) -> bool | None:
        return _MET.get(self.state)


@dataclass(frozen=True)
class Step:
    """A place the case waits now: an open human task, a waiting event, a failed step."""
    bpmn_id: str
    name: str
    lane: str | None
    due: datetime | None
    task_id: str | None            # the human task's id (what /tasks/{id} answers to), else None


@dataclass
class Standing:
    """Where the case stands: the steps it waits at, and the diagram's elements by state."""
    steps: list[Step] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    incident: list[str] = field(default_factory=list)
    names: dict = field(default_factory=dict)       # bpmn id -> element name


@dataclass
class CaseView:
    instance: object                # engine.instances.ProcessInstance
    case: object | None             # handlers.cases.Case, when the procedure opened one
    workflow: object
    data: dict
    standing: Standing
    deadlines: list[Deadline]
    outcome: dict | None
    permit: dict | None             # the register's `as_dict()` shape, else as the case data holds it
    trail: list = field(default_factory=list)   # the case's audit events, oldest first
    _documents: list | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return self.instance.status

    @property
    def element_names(self) -> dict:
        """Every element of the case's diagram: bpmn id -> name (a timer's event names it by id)."""
        return element_names(self.workflow)

    @property
    def ended(self) -> bool:
        return self.instance.status in ENDED

    @property
    def documents(self) -> list[dict]:
        """The decision documents: those made at the decision (stored with their PDF and SHA-256),
        else those the procedure kept in the case data. Each: key, document (its kind, for its
        title), date (a date or ISO text), html (None for one made at the decision: read it with
        documents_pdf.stored_one(...).html), pdf (bool), sha256 (or None)."""
        if self._documents is None:
            self._documents = documents_of(self.instance, self.data)
        return self._documents

    @property
    def grounds(self) -> list[dict]:
        """The outcome's grounds, each as a mapping with at least its code."""
        result = []
        for ground in (self.outcome or {}).get("grounds") or []:
            if isinstance(ground, str):
                ground = {"code": ground}
            if isinstance(ground, dict):
                result.append(ground)
        return result


def build(instance, case=None, workflow=None) -> CaseView:
    """The read model of the case with this process instance (and its case row, if any).

    Each table is read once: the human tasks, the timer rows and the audit trail of the
    instance serve both where the case stands and the state of its deadlines."""
    from handlers.cases import Case
    if case is None:
        case = db.session.get(Case, instance.id)
    workflow = workflow if workflow is not None else instances.peek(instance)
    data = instances.current_data(workflow)
    facts = Facts.read(instance)
    return CaseView(instance=instance, case=case, workflow=workflow, data=data,
                    standing=standing(instance, workflow, facts), deadlines=deadlines(instance, case, data, facts),
                    outcome=outcome_of(case, data), permit=permit_of(case, data), trail=facts.trail)


@dataclass
class Facts:
    """The rows of one instance the read model judges by."""
    tasks: list                     # every human task row
    timers: list                    # (task id, due time) of every pending timer row
    trail: list                     # the audit events, oldest first

    @classmethod
    def read(cls, instance) -> "Facts":
        return cls(tasks=list(db.session.execute(sa.select(HumanTask).where(
                       HumanTask.instance_id == instance.id)).scalars()),
                   timers=list(db.session.execute(sa.select(Timer.task_id, Timer.due_at).where(
                       Timer.instance_id == instance.id)).all()),
                   trail=audit.trail(instance.id))


def of_case(case) -> CaseView:
    return build(instances.get(case.id), case)


def element_names(workflow) -> dict:
    """bpmn id -> name of every element of the workflow's diagram and its subprocesses."""
    names: dict = {}
    for task_spec in task_specs(workflow.spec, workflow.subprocess_specs):
        bpmn_id = getattr(task_spec, "bpmn_id", None)
        if bpmn_id and getattr(task_spec, "bpmn_name", None):
            names.setdefault(bpmn_id, task_spec.bpmn_name)
    return names


# --- the outcome and the permit -------------------------------------------------------------

def outcome_of(case, data: Mapping) -> dict | None:
    """The decision: as the case row holds it (written with it), else as the case data holds it."""
    if case is not None and isinstance(case.outcome, dict):
        return case.outcome
    value = data.get("outcome")
    return value if isinstance(value, dict) else None


def permit_of(case, data: Mapping) -> dict | None:
    """The permit the case issued, extended or revokes: from the register when it has it
    (as it stands now), else as the case data holds it."""
    from handlers import permits
    stored = data.get("permit") if isinstance(data.get("permit"), dict) else None
    number = (case.permit_no if case is not None else None) or \
        (stored or {}).get("number") or (stored or {}).get("permit_no")
    if isinstance(number, str) and number:
        permit = permits.get_permit(number)
        if permit is not None:
            return permit.as_dict()
    return stored


def documents_of(instance, data: Mapping) -> list[dict]:
    from . import documents_pdf
    # A stored document's HTML is read (from the document store) only when it is shown.
    issued = [{"key": row.key, "document": row.key, "date": row.created_at, "html": None, "pdf": True,
               "sha256": row.sha256} for row in documents_pdf.stored(instance.id)]
    if issued:
        return issued
    return [{"key": key, "document": value["document"], "date": value.get("date"), "html": value["html"],
             "pdf": False, "sha256": None}
            for key, value in sorted(data.items())
            if isinstance(value, dict) and isinstance(value.get("html"), str) and value.get("document")]


# --- deadlines -----------------------------------------------------------------------------

def deadlines(instance, case, data: Mapping, facts: Facts | None = None,
              now: datetime | None = None) -> list[Deadline]:
    """Every deadline record of the case data with its state, soonest first."""
    records = data.get("deadlines")
    if not isinstance(records, dict):
        return []
    facts = facts or Facts.read(instance)
    waited: dict[str, list] = {}
    for row in facts.tasks:
        if row.deadline:
            waited.setdefault(row.deadline, []).append(row)
    watched: dict[datetime, list] = {}
    for event in facts.trail:
        if event.event in (TIMER_FIRED, TIMER_CANCELLED):
            due = _aware((event.details or {}).get("due_at"))
            if due is not None:
                watched.setdefault(due, []).append(event)
    pending = {clock.as_utc(due) for _task_id, due in facts.timers if due is not None}
    ended_at = case.decided_at if case is not None and case.decided_at is not None else None
    if ended_at is None and instance.status in ENDED:
        ended_at = instance.completed_at
    now = now or clock.now()
    result = []
    for name, record in records.items():
        if not isinstance(record, dict):
            continue
        due = _due(record)
        result.append(deadline_state(
            str(record.get("name") or name), record, tasks=waited.get(name) or [],
            timer_events=watched.get(due, []) if due is not None else [],
            timer_pending=due is not None and clock.as_utc(due) in pending, ended_at=ended_at, now=now))
    result.sort(key=lambda d: (d.due is None, d.due or now, d.name))
    return result


def deadline_state(name: str, record: Mapping, *, tasks=(), timer_events=(), timer_pending=False,
                   ended_at: datetime | None = None, now: datetime) -> Deadline:
    """The state of one deadline record (see the module's docstring), judged in this order:
    the record's own closing (`met`, or a `met_at`/`done_at` time); the human tasks that waited
    under it (task property `deadline`); the timer that watched it (a timer due at the same
    instant): fired or cancelled; the end of the case; and the clock."""
    due = _due(record)
    inputs = record.get("inputs") if isinstance(record.get("inputs"), dict) else {}
    reminder = inputs.get("rule") == "local_time_on" and bool(inputs.get("of"))

    def made(state, at=None):
        return Deadline(name=name, rule=_str(record.get("rule")), start=_str(record.get("start")),
                        due_at_text=_str(record.get("due_at")),
                        calendar_version=_str(record.get("calendar_version")),
                        due=due, state=state, at=at, reminder=reminder)

    if isinstance(record.get("met"), bool):
        return made(MET if record["met"] else MISSED, _aware(record.get("closed_at")))
    if due is None:
        return made(UNKNOWN)
    done_at = _aware(record.get("met_at") or record.get("done_at"))
    if done_at is not None:
        return made(_kept(done_at, due), done_at)
    if not reminder and tasks:
        if any(row.status == READY for row in tasks):
            return made(OPEN if now <= due else OVERDUE)
        finished = max((row.completed_at for row in tasks if row.completed_at), default=None)
        if finished is not None:
            return made(_kept(finished, due), finished)
    if timer_events:
        fired = [e for e in timer_events if e.event == TIMER_FIRED]
        last = (fired or list(timer_events))[-1]
        if reminder:
            return made(SENT if fired else NOT_NEEDED, last.at)
        return made(MISSED if fired else MET, last.at)
    if ended_at is not None:
        if reminder:
            return made(NOT_NEEDED)
        return made(_kept(ended_at, due), ended_at)
    if now <= due:
        return made(OPEN)
    if reminder and not timer_pending:
        return made(PASSED)
    return made(OVERDUE)


def _kept(at: datetime, due: datetime) -> str:
    return MET if at <= due else MISSED


def _due(record: Mapping) -> datetime | None:
    return _aware(record.get("due_at_utc")) or _aware(record.get("due_at"))


# --- where the case stands -------------------------------------------------------------------

def standing(instance, workflow, facts: Facts | None = None) -> Standing:
    """One walk of the workflow's tasks: the diagram's completed, current and failed elements,
    and the steps the case waits at (open human tasks, waiting events, a failed step) with the
    due time of each (the human task's, the timer's, or the earliest boundary timer's)."""
    found = Standing()
    completed, current, failed = set(), set(), set()
    candidates = []
    for task in instances.all_tasks(workflow):
        spec = task.task_spec
        bpmn_id = getattr(spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        found.names.setdefault(bpmn_id, spec.bpmn_name or bpmn_id)
        if task.state == TaskState.COMPLETED:
            completed.add(bpmn_id)
        elif task.state & (TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            current.add(bpmn_id)
        elif task.state == TaskState.ERROR:
            failed.add(bpmn_id)
        if task.state & (TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR) \
                and _is_step(task):
            candidates.append(task)
    if instance.incident_task_id:
        try:
            from uuid import UUID
            task = workflow.get_task_from_id(UUID(instance.incident_task_id))
            if task is not None and task.task_spec.bpmn_id:
                failed.add(task.task_spec.bpmn_id)
        except Exception:  # a task id the workflow no longer has: the incident row still says
            pass
    current -= failed
    if instance.status in ENDED:
        current.clear()
        candidates = []
    found.completed = sorted(completed - current - failed)
    found.current, found.incident = sorted(current), sorted(failed)
    if candidates:
        if facts is None:  # the open tasks' and timers' due times, and nothing else, are needed
            connection, key = session_connection(), {"instance_id": instance.id}
            human_due = dict(_READY_DUE.rows(connection, key))
            timer_due = dict(_TIMER_DUE.rows(connection, key))
        else:
            human_due = {row.id: row.due_at for row in facts.tasks if row.status == READY}
            timer_due = dict(facts.timers)
        for task in candidates:
            spec, task_id = task.task_spec, str(task.id)
            due = human_due.get(task_id) or timer_due.get(task_id) or _boundary_due(task, timer_due)
            found.steps.append(Step(bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, lane=spec.lane,
                                    due=due, task_id=task_id if task_id in human_due else None))
        found.steps.sort(key=lambda s: (s.due is None, s.due or clock.now(), s.name))
    return found


_TASKS, _TIMERS = HumanTask.__table__, Timer.__table__
_READY_DUE = Prepared(sa.select(_TASKS.c.id, _TASKS.c.due_at).where(
    _TASKS.c.instance_id == sa.bindparam("instance_id"), _TASKS.c.status == READY))
_TIMER_DUE = Prepared(sa.select(_TIMERS.c.task_id, _TIMERS.c.due_at).where(
    _TIMERS.c.instance_id == sa.bindparam("instance_id")))


def _is_step(task) -> bool:
    spec = task.task_spec
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


# --- helpers -------------------------------------------------------------------------------

def _aware(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else None
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _str(value) -> str | None:
    return None if value is None else str(value)
