"""Human tasks: READY user and manual tasks indexed as rows for inboxes and the API.

Listing and claiming read only these rows (never a workflow); completing is an engine step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from flask import current_app
from SpiffWorkflow.util.task import TaskState

from . import audit, clock, definitions, forms, hooks, instances
from .db import Prepared, UTCDateTime, db, session_connection
from .exceptions import Conflict, Forbidden, InvalidData, NotFound
from .operators import operator
from .script_engine import current_step

READY, COMPLETED, CANCELLED = "ready", "completed", "cancelled"
FORM_PROPERTY = "formJsonSchemaFilename"
DEADLINE_PROPERTY = "deadline"


@dataclass(frozen=True)
class Actor:
    """Who acts: a name, the roles they hold, the regions they work in (None = every region)."""

    name: str
    roles: frozenset = field(default_factory=frozenset)
    regions: frozenset | None = frozenset()
    # Absent officers this actor substitutes for today: their claimed tasks count as the actor's.
    covers: frozenset = frozenset()

    def may_work_on(self, task: "HumanTask") -> bool:
        return task.role in self.roles and (self.regions is None or task.region in self.regions)


class HumanTask(db.Model):
    __tablename__ = "human_task"
    __table_args__ = (
        # The inbox's order within one role and region: a page walks it, never sorts.
        sa.Index("ix_human_task_queue", "status", "role", "region", "due_at", "created_at", "id"),
        # supervision of every region: overdue by due time with no region (migration 0020)
        sa.Index("ix_human_task_overdue", "status", "role", "due_at", "created_at", "id"),
        # Supervision: the escalated open tasks (few), beside the overdue ones the queue index finds.
        sa.Index("ix_human_task_escalated", "status", "escalated", "role", "region"),
        sa.Index("ix_human_task_assignee", "assignee", "status"),
        # The inbox's other sort orders (received, step, case number), each walked the same way.
        sa.Index("ix_human_task_queue_created", "status", "role", "region", "created_at", "id"),
        sa.Index("ix_human_task_queue_step", "status", "role", "region", "name", "created_at", "id"),
        sa.Index("ix_human_task_queue_case", "status", "role", "region", "case_key", "id"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    instance_id = sa.Column(sa.String(36), sa.ForeignKey("process_instance.id"), nullable=False,
                            index=True)
    definition_id = sa.Column(sa.Integer, nullable=False)
    process_id = sa.Column(sa.String(200), nullable=False)
    bpmn_id = sa.Column(sa.String(200), nullable=False)
    # The instance's business key (a case's application number) or its id: the inbox sorts on it.
    case_key = sa.Column(sa.String(200), nullable=False)
    name = sa.Column(sa.String(300), nullable=False)
    lane = sa.Column(sa.String(200))
    role = sa.Column(sa.String(50), nullable=False)
    region = sa.Column(sa.String(20))
    form = sa.Column(sa.String(200))
    deadline = sa.Column(sa.String(100))
    due_at = sa.Column(UTCDateTime)
    assignee = sa.Column(sa.String(200))
    status = sa.Column(sa.String(20), nullable=False)
    escalated = sa.Column(sa.Boolean, nullable=False, default=False)
    created_at = sa.Column(UTCDateTime, nullable=False)
    claimed_at = sa.Column(UTCDateTime)
    completed_at = sa.Column(UTCDateTime)
    completed_by = sa.Column(sa.String(200))

    def as_dict(self):
        iso = lambda v: v.isoformat() if v else None  # noqa: E731
        return {"id": self.id, "instance_id": self.instance_id, "process_id": self.process_id,
                "bpmn_id": self.bpmn_id, "name": self.name, "lane": self.lane, "role": self.role,
                "region": self.region, "form": self.form, "deadline": self.deadline,
                "due_at": iso(self.due_at), "assignee": self.assignee, "status": self.status,
                "escalated": self.escalated, "created_at": iso(self.created_at),
                "claimed_at": iso(self.claimed_at), "completed_at": iso(self.completed_at),
                "completed_by": self.completed_by}


def sync(row, workflow, is_new: bool = False) -> None:
    """Make the index match the workflow: new READY tasks in, finished ones out of the queue.

    It compares with the snapshot taken when the workflow was loaded (the rows written by the
    previous save), so a step writes only what changed and never reads the index back.
    """
    before = {} if is_new else indexed_snapshot(workflow)
    ready = {str(t.id): t for t in instances.all_tasks(workflow, TaskState.READY) if t.task_spec.manual}
    now = clock.now()
    lane_roles = current_app.config["LANE_ROLES"]
    step = current_step.get()
    escalated_now = step.escalations if step is not None else set()
    after, new_rows = {}, []
    for task_id, task in ready.items():
        due = _due_at(task)
        after[task_id] = (due, row.region)
        if task_id in before:
            if before[task_id] != after[task_id]:
                _MOVE.execute(_connection(), {"task_id": task_id, "due": due, "new_region": row.region})
            continue
        spec = task.task_spec
        props = (spec.extensions or {}).get("properties", {})
        new_rows.append(dict(
            id=task_id, instance_id=row.id, definition_id=row.definition_id,
            case_key=row.business_key or row.id,
            process_id=row.process_id, bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id,
            lane=spec.lane, role=lane_roles.get(spec.lane, "system"), region=row.region,
            form=props.get(FORM_PROPERTY), deadline=props.get(DEADLINE_PROPERTY),
            due_at=due, assignee=None, status=READY, escalated=spec.bpmn_id in escalated_now,
            created_at=now, claimed_at=None, completed_at=None, completed_by=None))
    if new_rows:
        # Core, not the unit of work: the index is written once per step, in the step's transaction.
        _INSERT.execute(_connection(), new_rows)
    for task_id in before:
        if task_id not in ready:
            task = _task(workflow, task_id)
            done = task is not None and task.state == TaskState.COMPLETED
            _CLOSE.execute(_connection(), {"task_id": task_id, "new_status": COMPLETED if done else CANCELLED,
                                           "at": now})
    workflow.indexed_human_tasks = after


def reopen(workflow, task_id: str) -> None:
    """A task set runnable again (a case moved back to it) keeps its id: its row is reopened,
    not inserted twice; who completed it before stays in the audit log."""
    reopened = _connection().execute(
        _TABLE.update().where(_TABLE.c.id == str(task_id))
        .values(status=READY, assignee=None, claimed_at=None, completed_at=None, completed_by=None,
                escalated=False, created_at=clock.now())).rowcount
    if reopened:
        # Indexed as open with no due time or region: the save writes the real ones (or closes it).
        workflow.indexed_human_tasks = dict(indexed_snapshot(workflow), **{str(task_id): (None, None)})


def indexed_snapshot(workflow) -> dict:
    """What the index holds for this workflow's open tasks: {task id: (due_at, region)}."""
    return getattr(workflow, "indexed_human_tasks", None) or {}


def remember_snapshot(workflow, region) -> None:
    """Called on load: the open tasks of a saved workflow are exactly its READY manual tasks."""
    workflow.indexed_human_tasks = {str(t.id): (_due_at(t), region)
                                    for t in instances.all_tasks(workflow, TaskState.READY) if t.task_spec.manual}


_TABLE = HumanTask.__table__
# Built once (constructing a statement costs more than running it) and run as prepared text
# (engine.db.Prepared): the index is written on every step.
_INSERT = Prepared(_TABLE.insert())
_CLOSE = Prepared(_TABLE.update().where(_TABLE.c.id == sa.bindparam("task_id"), _TABLE.c.status == READY)
                  .values(status=sa.bindparam("new_status"), completed_at=sa.bindparam("at")))
_MOVE = Prepared(_TABLE.update().where(_TABLE.c.id == sa.bindparam("task_id"), _TABLE.c.status == READY)
                 .values(due_at=sa.bindparam("due"), region=sa.bindparam("new_region")))


def _connection():
    # The session's own connection and transaction: the index rows skip the unit of work
    # (like the ORM bulk update they replace, they do not refresh HumanTask objects already loaded).
    return session_connection()


def _task(workflow, task_id):
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except Exception:
        return None


def get(task_id: str) -> HumanTask:
    row = db.session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"no task {task_id!r}")
    return row


def visible_to(actor: Actor, task_id: str) -> HumanTask:
    """The task, if this actor's role and region allow seeing it (else it does not exist for them)."""
    row = get(task_id)
    if not actor.may_work_on(row):
        raise NotFound(f"no task {task_id!r}")
    return row


# The inbox's sort orders: each a list of segments walked one after the other, a segment being
# (a condition or None, its columns in order). "due" puts tasks without a deadline last: two walks
# of the queue index (dated, then undated) instead of one sort on `due_at IS NULL`, which no index
# serves. The last column is the id, so every order is total and a keyset never skips a task.
SORTS = {
    "due": ((HumanTask.due_at.is_not(None), (HumanTask.due_at, HumanTask.created_at, HumanTask.id)),
            (HumanTask.due_at.is_(None), (HumanTask.created_at, HumanTask.id))),
    "created": ((None, (HumanTask.created_at, HumanTask.id)),),
    "step": ((None, (HumanTask.name, HumanTask.created_at, HumanTask.id)),),
    "case": ((None, (HumanTask.case_key, HumanTask.id)),),
}


def queue(actor: Actor, *, status: str = READY, assignee: str | None = None, unassigned: bool = False,
          bpmn_id: str | None = None, process_id: str | None = None, instance_id: str | None = None,
          after: tuple | None = None, limit: int = 50, sort: str = "due", descending: bool = False,
          actionable: bool = False):
    """Tasks of the actor's roles and regions in the order `sort` names (by default soonest
    deadline first, no deadline last), reversed when `descending`.

    `after` is `queue_position(row, sort)` of the last task of the previous page: a keyset, so a
    page never skips or repeats a task when others are completed meanwhile; walking the other
    way from a page's first task gives the previous page. Each segment of the order is one walk
    of an index in its own order: a page costs the same with any number of tasks. `actionable`
    keeps the tasks the actor may work on now: unclaimed, or claimed by them (or by an absent
    colleague they stand in for)."""
    base = sa.select(HumanTask).where(*_conditions(actor, status, assignee, unassigned, bpmn_id, process_id,
                                                   instance_id, actionable))
    rows = []
    for condition, columns, key in _walk(sort, descending, after):
        query = base if condition is None else base.where(condition)
        if key is not None:
            query = query.where(_beyond(columns, key, descending))
        query = query.order_by(*(c.desc() if descending else c for c in columns)).limit(limit - len(rows))
        rows += db.session.execute(query).scalars()
        if len(rows) >= limit:
            break
    return rows


def count(actor: Actor, *, status: str = READY, assignee: str | None = None, unassigned: bool = False,
          bpmn_id: str | None = None, process_id: str | None = None, sort: str = "due",
          descending: bool = False, after: tuple | None = None) -> int:
    """How many tasks `queue` with these arguments would list with no limit: all of them with no
    `after`; those beyond `after` in that direction otherwise (with the other direction: how many
    come before a task). Counts read the same index ranges the pages walk."""
    conditions = _conditions(actor, status, assignee, unassigned, bpmn_id, process_id, None, False)
    total = 0
    for condition, columns, key in _walk(sort, descending, after):
        query = sa.select(sa.func.count()).select_from(HumanTask).where(*conditions)
        if condition is not None:
            query = query.where(condition)
        if key is not None:
            query = query.where(_beyond(columns, key, descending))
        total += db.session.execute(query).scalar_one()
    return total


def _conditions(actor, status, assignee, unassigned, bpmn_id, process_id, instance_id, actionable):
    conditions = [HumanTask.status == status, HumanTask.role.in_(actor.roles)]
    if instance_id:
        conditions.append(HumanTask.instance_id == instance_id)
    if actor.regions is not None:
        conditions.append(HumanTask.region.in_(actor.regions))
    if assignee is not None and assignee == actor.name and actor.covers:
        conditions.append(HumanTask.assignee.in_([assignee, *sorted(actor.covers)]))
    elif assignee is not None:
        conditions.append(HumanTask.assignee == assignee)
    if unassigned:
        conditions.append(HumanTask.assignee.is_(None))
    if actionable:
        conditions.append(sa.or_(HumanTask.assignee.is_(None),
                                 HumanTask.assignee.in_([actor.name, *sorted(actor.covers)])))
    if bpmn_id:
        conditions.append(HumanTask.bpmn_id == bpmn_id)
    if process_id:
        conditions.append(HumanTask.process_id == process_id)
    return conditions


def _walk(sort, descending, after):
    """The segments a walk from `after` visits, in order: (condition, columns, keyset or None)."""
    if sort not in SORTS:
        raise ValueError(f"no sort order {sort!r}")
    segments = list(SORTS[sort])[::-1] if descending else list(SORTS[sort])
    if after is None:
        return [(condition, columns, None) for condition, columns in segments]
    at, key = _segment_of(sort, after)
    start = segments.index(SORTS[sort][at])
    return [(segments[start][0], segments[start][1], key)] + \
        [(condition, columns, None) for condition, columns in segments[start + 1:]]


def _segment_of(sort, position):
    """Which segment of the order a position is in, and its key there."""
    if sort == "due":
        return (0, tuple(position)) if position[0] is not None else (1, tuple(position[1:]))
    return 0, tuple(position)


def _beyond(columns, key, descending):
    """Rows strictly after `key` in the columns' order (before it when descending): one row-value
    comparison, which SQLite and PostgreSQL both seek in the index (an OR of column comparisons
    would read the index range from its start)."""
    if len(columns) == 1:
        return columns[0] < key[0] if descending else columns[0] > key[0]
    values = sa.tuple_(*(sa.bindparam(None, value, type_=column.type) for column, value in zip(columns, key)))
    return sa.tuple_(*columns) < values if descending else sa.tuple_(*columns) > values


def supervised(roles, regions, now, limit: int = 500, after: tuple | None = None) -> list[HumanTask]:
    """Open tasks of these roles (and regions; None = all) that are overdue or escalated, soonest
    deadline first (undated last). Two index walks (overdue by due time; the few escalated)
    merged here, rather than one OR that no index serves. `after` is `queue_position(row)` of the
    previous page's last task: a keyset, so page 100 costs what page 1 does."""
    def scoped(query):
        query = query.where(HumanTask.status == READY, HumanTask.role.in_(roles))
        return query if regions is None else query.where(HumanTask.region.in_(regions))
    far = datetime.max.replace(tzinfo=now.tzinfo)

    def position(row):
        return (row.due_at or far, row.created_at, row.id)
    overdue = []
    if after is None or after[0] is not None:  # an undated position is past every overdue task
        query = scoped(sa.select(HumanTask)).where(HumanTask.due_at < now)
        if after is not None:
            query = query.where(_beyond((HumanTask.due_at, HumanTask.created_at, HumanTask.id), tuple(after), False))
        overdue = list(db.session.execute(query.order_by(HumanTask.due_at, HumanTask.created_at, HumanTask.id)
                                          .limit(limit)).scalars())
    seen = {row.id for row in overdue}
    start = None if after is None else (after[0] or far, after[1], after[2])
    escalated = [row for row in db.session.execute(
        scoped(sa.select(HumanTask)).where(HumanTask.escalated.is_(True)).limit(500)).scalars()
        if row.id not in seen and (start is None or position(row) > start)]
    rows = sorted(overdue + escalated, key=position)
    return rows[:limit]


def steps_for(roles) -> list[tuple[str, str, str]]:
    """(process id, element id, name) of every user or manual task the roles work on in the newest
    version of each deployed process: read from the parsed specs, never from the task rows."""
    from .definitions import ProcessDefinition, spec_for
    newest = (sa.select(ProcessDefinition.process_id, sa.func.max(ProcessDefinition.version).label("v"))
              .group_by(ProcessDefinition.process_id).subquery())
    heads = db.session.execute(sa.select(ProcessDefinition.id, ProcessDefinition.process_id,
                                         ProcessDefinition.content_hash)
                               .join(newest, sa.and_(ProcessDefinition.process_id == newest.c.process_id,
                                                     ProcessDefinition.version == newest.c.v))).all()
    lane_roles = current_app.config["LANE_ROLES"]
    found = set()
    for head in heads:
        spec, subprocesses = spec_for(head)
        for process in (spec, *subprocesses.values()):
            for task_spec in process.task_specs.values():
                if getattr(task_spec, "manual", False) and lane_roles.get(task_spec.lane, "system") in roles:
                    found.add((head.process_id, task_spec.bpmn_id, task_spec.bpmn_name or task_spec.bpmn_id))
    return sorted(found)


def queue_position(row: HumanTask, sort: str = "due") -> tuple:
    """Where a task stands in a queue order: for "due", (due_at or None, created_at, id)."""
    return {"due": (row.due_at, row.created_at, row.id), "created": (row.created_at, row.id),
            "step": (row.name, row.created_at, row.id), "case": (row.case_key, row.id)}[sort]


def claim(task_id: str, actor: Actor, via: dict | None = None) -> HumanTask:
    """Take an open task; `via` names the client system that acted for the officer, recorded in
    the same audit event (one row per action)."""
    row = visible_to(actor, task_id)
    if row.status != READY:
        raise Conflict("the task is no longer open")
    if row.assignee == actor.name:
        return row
    now = clock.now()
    # A substitute takes over a task the absent officer they stand in for had claimed.
    taken_from = row.assignee if row.assignee in actor.covers else None
    done = db.session.execute(
        sa.update(HumanTask).where(HumanTask.id == task_id, HumanTask.status == READY,
                                   HumanTask.assignee == taken_from if taken_from else HumanTask.assignee.is_(None))
        .values(assignee=actor.name, claimed_at=now).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        db.session.rollback()
        current = get(task_id)
        raise Conflict(f"the task is already claimed by {current.assignee}" if current.assignee
                       else "the task is no longer open")
    audit.record("task_claimed", actor=actor.name, instance_id=row.instance_id, task_id=task_id,
                 details={**({"via": via} if via else {}), **({"substitute_for": taken_from} if taken_from else {})}
                 or None)
    db.session.commit()
    db.session.refresh(row)
    return row


def unclaim(task_id: str, actor: Actor, *, reassign_to: str | None = None, as_supervisor: bool = False,
            via: dict | None = None):
    """Give a task back (its assignee), or move it to someone else (a supervisor)."""
    row = visible_to(actor, task_id)
    if row.status != READY:
        raise Conflict("the task is no longer open")
    if row.assignee != actor.name and not as_supervisor:
        raise Forbidden("only the officer who claimed the task may give it back")
    previous = row.assignee
    row.assignee = reassign_to
    row.claimed_at = clock.now() if reassign_to else None
    audit.record("task_reassigned" if reassign_to else "task_unclaimed", actor=actor.name,
                 instance_id=row.instance_id, task_id=task_id,
                 details={"from": previous, "to": reassign_to, **({"via": via} if via else {})})
    db.session.commit()
    return row


def complete(task_id: str, actor: Actor, submitted: dict, via: dict | None = None) -> HumanTask:
    """Validate the form, complete the task, run the instance on: one transaction."""
    row = visible_to(actor, task_id)
    if row.status != READY:
        raise Conflict("the task is no longer open")
    if row.assignee != actor.name:
        raise Forbidden("only the officer who claimed the task may complete it"
                        if row.assignee else "claim the task before completing it")
    if not isinstance(submitted, dict):
        raise InvalidData("the form data must be an object", {"": ["expected an object"]})
    schema = definitions.form_schema(definitions.facts(row.definition_id), row.form)
    if schema is not None:
        errors = forms.validate(schema, submitted)
        if errors:
            raise InvalidData("the form has errors", errors)
    instance_id = row.instance_id
    with instances.step(instance_id, actor.name) as (instance, workflow):
        task = _task(workflow, task_id)
        if task is None or task.state != TaskState.READY:
            raise Conflict("the task is no longer open")
        for check in hooks.of(current_app).task_completion_checks:
            check(actor, row, task, submitted)
        completed_by = dict(task.data.get("completed_by") or {}, **{row.bpmn_id: actor.name})
        task.set_data(**{row.bpmn_id: submitted, "completed_by": completed_by})
        _close_deadline(task, row.deadline)
        task.run()
        audit.record("task_completed", actor=actor.name, instance_id=instance_id, task_id=task_id,
                     details={"task": row.name, "data": submitted, **({"via": via} if via else {})})
        row.completed_by = actor.name
    return get(task_id)


@operator("tasks.mark_escalated")
def mark_escalated(ctx, task: str) -> dict:
    """`tasks.mark_escalated`: flag the open user task `task` (a BPMN id) of this instance as
    escalated, for the supervisors' queue; the officer still decides."""
    rows = list(ctx.session.execute(sa.select(HumanTask).filter_by(
        instance_id=ctx.instance_id, bpmn_id=task, status=READY)).scalars())
    for open_row in rows:
        open_row.escalated = True
        audit.record("task_escalated", actor=ctx.actor, instance_id=ctx.instance_id, task_id=open_row.id,
                     details={"task": open_row.name, "assignee": open_row.assignee,
                              "due_at": open_row.due_at.isoformat() if open_row.due_at else None})
    if not rows:
        # The deadline had passed when the task appeared: its row is written when this step
        # saves, and is written escalated.
        from .script_engine import current_step
        current_step.get().escalations.add(task)
        audit.record("task_escalated", actor=ctx.actor, instance_id=ctx.instance_id,
                     details={"task": task, "assignee": None, "before_indexed": True})
    first = rows[0] if rows else None
    return {"escalated": True, "task": task, "task_name": first.name if first else None,
            "assignee": first.assignee if first else None}


def _close_deadline(task, name):
    """A user task that declares its deadline keeps it when completed in time."""
    from .deadlines import close_record
    record = (task.data.get("deadlines") or {}).get(name) if name else None
    if isinstance(record, dict) and record.get("due_at_utc"):
        task.set_data(deadlines={**task.data["deadlines"], name: close_record(record, clock.now())})


def _due_at(task) -> datetime | None:
    name = ((task.task_spec.extensions or {}).get("properties", {}) or {}).get(DEADLINE_PROPERTY)
    if not name:
        return None
    record = (task.data.get("deadlines") or {}).get(name)
    if not isinstance(record, dict) or not record.get("due_at"):
        return None
    due = datetime.fromisoformat(record["due_at"])
    return due if due.tzinfo else None


instances.register_index(instances.Index(
    "human_tasks", order=1, sync=sync,
    remember=lambda row, workflow: remember_snapshot(workflow, row.region)))
