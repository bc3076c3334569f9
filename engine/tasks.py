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
from .db import UTCDateTime, db
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
        # Supervision: the escalated open tasks (few), beside the overdue ones the queue index finds.
        sa.Index("ix_human_task_escalated", "status", "escalated", "role", "region"),
        sa.Index("ix_human_task_assignee", "assignee", "status"),
    )

    id = sa.Column(sa.String(36), primary_key=True)
    instance_id = sa.Column(sa.String(36), sa.ForeignKey("process_instance.id"), nullable=False,
                            index=True)
    definition_id = sa.Column(sa.Integer, nullable=False)
    process_id = sa.Column(sa.String(200), nullable=False)
    bpmn_id = sa.Column(sa.String(200), nullable=False)
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
                _connection().execute(_MOVE, {"task_id": task_id, "due": due, "new_region": row.region})
            continue
        spec = task.task_spec
        props = (spec.extensions or {}).get("properties", {})
        new_rows.append(dict(
            id=task_id, instance_id=row.id, definition_id=row.definition_id,
            process_id=row.process_id, bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id,
            lane=spec.lane, role=lane_roles.get(spec.lane, "system"), region=row.region,
            form=props.get(FORM_PROPERTY), deadline=props.get(DEADLINE_PROPERTY),
            due_at=due, assignee=None, status=READY, escalated=spec.bpmn_id in escalated_now,
            created_at=now, claimed_at=None, completed_at=None, completed_by=None))
    if new_rows:
        # Core, not the unit of work: the index is written once per step, in the step's transaction.
        _connection().execute(_INSERT, new_rows)
    for task_id in before:
        if task_id not in ready:
            task = _task(workflow, task_id)
            done = task is not None and task.state == TaskState.COMPLETED
            _connection().execute(_CLOSE, {"task_id": task_id, "new_status": COMPLETED if done else CANCELLED,
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
_INSERT = _TABLE.insert()
# Built once: constructing a statement costs more than running it.
_CLOSE = (_TABLE.update().where(_TABLE.c.id == sa.bindparam("task_id"), _TABLE.c.status == READY)
          .values(status=sa.bindparam("new_status"), completed_at=sa.bindparam("at")))
_MOVE = (_TABLE.update().where(_TABLE.c.id == sa.bindparam("task_id"), _TABLE.c.status == READY)
         .values(due_at=sa.bindparam("due"), region=sa.bindparam("new_region")))


def _connection():
    # The session's own connection and transaction: the index rows skip the unit of work
    # (like the ORM bulk update they replace, they do not refresh HumanTask objects already loaded).
    return db.session.connection()


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


def queue(actor: Actor, *, status: str = READY, assignee: str | None = None, unassigned: bool = False,
          bpmn_id: str | None = None, process_id: str | None = None, instance_id: str | None = None,
          after: tuple | None = None, limit: int = 50):
    """Tasks of the actor's roles and regions, soonest deadline first (no deadline last).

    `after` is `queue_position(row)` of the last task of the previous page: a keyset, so a page
    never skips or repeats a task when others are completed meanwhile. Two walks of the queue
    index in its own order (tasks with a deadline, then those without) instead of one sort on
    `due_at IS NULL`, which no index serves: a page costs the same with any number of tasks."""
    base = sa.select(HumanTask).where(HumanTask.status == status, HumanTask.role.in_(actor.roles))
    if instance_id:
        base = base.where(HumanTask.instance_id == instance_id)
    if actor.regions is not None:
        base = base.where(HumanTask.region.in_(actor.regions))
    if assignee is not None and assignee == actor.name and actor.covers:
        base = base.where(HumanTask.assignee.in_([assignee, *sorted(actor.covers)]))
    elif assignee is not None:
        base = base.where(HumanTask.assignee == assignee)
    if unassigned:
        base = base.where(HumanTask.assignee.is_(None))
    if bpmn_id:
        base = base.where(HumanTask.bpmn_id == bpmn_id)
    if process_id:
        base = base.where(HumanTask.process_id == process_id)
    rows = []
    if after is None or after[0] is not None:
        dated = base.where(HumanTask.due_at.is_not(None))
        if after is not None:
            due_at, created_at, task_id = after
            dated = dated.where(sa.or_(HumanTask.due_at > due_at,
                                       sa.and_(HumanTask.due_at == due_at, _later(created_at, task_id))))
        rows = list(db.session.execute(dated.order_by(HumanTask.due_at, HumanTask.created_at, HumanTask.id)
                                       .limit(limit)).scalars())
    if len(rows) < limit:
        undated = base.where(HumanTask.due_at.is_(None))
        if after is not None and after[0] is None:
            undated = undated.where(_later(after[1], after[2]))
        rows += db.session.execute(undated.order_by(HumanTask.created_at, HumanTask.id)
                                   .limit(limit - len(rows))).scalars()
    return rows


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
            due_at, created_at, task_id = after
            query = query.where(sa.or_(HumanTask.due_at > due_at,
                                       sa.and_(HumanTask.due_at == due_at, _later(created_at, task_id))))
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


def queue_position(row: HumanTask) -> tuple:
    """Where a task stands in the queue's order: (due_at or None, created_at, id)."""
    return row.due_at, row.created_at, row.id


def _later(created_at, task_id):
    return sa.or_(HumanTask.created_at > created_at,
                  sa.and_(HumanTask.created_at == created_at, HumanTask.id > task_id))


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
    schema = definitions.form_schema(definitions.get(row.definition_id), row.form)
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
