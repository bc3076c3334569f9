"""Deadline compliance per region and month of filing: the figures, from stored deadlines.

Each statutory deadline of a case (police answer, decision, employer consent) is one row of
`case_deadline`, derived from the case's deadline records (`deadlines[name]` in the case data,
written by `deadlines.compute` and closed by `deadlines.close` or by the human task that waited
under it) and rewritten in the same transaction as the step that changed them: it is an index of
the instance's state (engine/instances.py::register_index), like human tasks and timers.

A row is judged as the case page judges its record: a closed record is met or missed by its own
`met` (`engine.deadlines.deadline_met` when only the time it was kept is known); an open one is
overdue once its due time has passed; a case that ended with the deadline still open met it when
it ended in time and otherwise missed it (handlers/case_view.py::deadline_state). The report is
then aggregate SQL over the index (region, filed month): it never restores a workflow.

`flask cases index-deadlines` fills the table for cases filed before it existed.
"""
from __future__ import annotations

import statistics
from collections.abc import Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa

from engine import clock, instances, tasks
from engine.calendar import current_calendar
from engine.db import UTCDateTime, db
from engine.deadlines import deadline_met

from .cases import Case

STATUTORY = ("police_answer", "decision", "employer_consent")
STATES = ("met", "missed", "overdue")
REFUSALS = ("refused", "not_accepted")


class CaseDeadline(db.Model):
    """One statutory deadline of one case, as its record stands after the case's last step."""
    __tablename__ = "case_deadline"
    # The report groups by region and month of filing and counts by name and state: the index
    # holds every column it reads, so the report never reads the table itself.
    # On SQLite the rows live in their key's B-tree (WITHOUT ROWID, migration 0021): stored once.
    __table_args__ = (
        sa.Index("ix_case_deadline_region_month", "region", "filed_month", "name", "met", "closed_at", "due_at"),
        {"sqlite_with_rowid": False},
    )

    instance_id = sa.Column(sa.String(36), primary_key=True)  # the case's id (its process instance)
    name = sa.Column(sa.String(64), primary_key=True)
    region = sa.Column(sa.String(10), nullable=False)
    filed_month = sa.Column(sa.String(7), nullable=False)  # YYYY-MM of filing, local time
    due_at = sa.Column(UTCDateTime)
    closed_at = sa.Column(UTCDateTime)
    met = sa.Column(sa.Boolean)


# --- the index: rows follow the case's deadline records ---------------------------------------

def judged(record: Mapping, ended_at: datetime | None) -> dict | None:
    """(due_at, closed_at, met) of a deadline record, judged as the case page judges it;
    None when the record has no due time (nothing to judge)."""
    due = _time(record.get("due_at_utc")) or _time(record.get("due_at"))
    if due is None:
        return None
    closed = _time(record.get("closed_at"))
    done = _time(record.get("met_at")) or _time(record.get("done_at"))
    if isinstance(record.get("met"), bool):
        return {"due_at": due, "closed_at": closed or done or ended_at or due, "met": record["met"]}
    if done is not None:
        return {"due_at": due, "closed_at": done, "met": deadline_met({"due_at_utc": due.isoformat()}, done)}
    if ended_at is not None:  # the case ended with it open: kept if it ended in time, else missed
        return {"due_at": due, "closed_at": ended_at, "met": deadline_met({"due_at_utc": due.isoformat()}, ended_at)}
    return {"due_at": due, "closed_at": None, "met": None}


def sync(row, workflow, is_new: bool = False) -> None:
    """Make the case's rows match its deadline records; writes only what changed. Instances
    that are not cases (no case row) keep none."""
    data = instances.current_data(workflow)
    records = data.get("deadlines") if isinstance(data, dict) else None
    records = records if isinstance(records, Mapping) else {}
    wanted = {}
    for name in STATUTORY:
        record = records.get(name)
        if isinstance(record, Mapping):
            state = judged(record, row.completed_at)
            if state is not None:
                wanted[name] = state
    stored = {} if is_new else getattr(workflow, "indexed_deadlines", None)
    if stored is None:
        stored = _stored(row.id)
    if wanted != stored:
        _write(row.id, wanted, stored)
    workflow.indexed_deadlines = wanted


def _write(instance_id: str, wanted: dict, stored: dict) -> None:
    """A statement per deadline that changed: deleted, updated in place, or inserted (the case
    row, for its region and filing month, is normally in the session already)."""
    gone = [name for name in stored if name not in wanted]
    if gone:
        db.session.execute(sa.delete(CaseDeadline).where(CaseDeadline.instance_id == instance_id,
                                                         CaseDeadline.name.in_(gone))
                           .execution_options(synchronize_session=False))
    for name in sorted(set(wanted) & set(stored)):
        if wanted[name] != stored[name]:
            db.session.execute(sa.update(CaseDeadline).where(CaseDeadline.instance_id == instance_id,
                                                             CaseDeadline.name == name)
                               .values(**wanted[name]).execution_options(synchronize_session=False))
    new = [name for name in wanted if name not in stored]
    if not new:
        return
    case = db.session.get(Case, instance_id)
    if case is None:  # not a case: nothing to report
        return
    month = clock.to_local(case.created_at).strftime("%Y-%m")
    for name in sorted(new):
        db.session.add(CaseDeadline(instance_id=instance_id, name=name, region=case.region,
                                    filed_month=month, **wanted[name]))


def _stored(instance_id: str) -> dict:
    rows = db.session.execute(sa.select(CaseDeadline).where(CaseDeadline.instance_id == instance_id)).scalars()
    return {r.name: {"due_at": r.due_at, "closed_at": r.closed_at, "met": r.met} for r in rows}


def _remember(row, workflow) -> None:
    workflow.indexed_deadlines = None  # restored from the database: read the rows when saving


def _time(value) -> datetime | None:
    if isinstance(value, datetime):
        return clock.as_utc(value) if value.tzinfo else None
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return clock.as_utc(moment) if moment.tzinfo is not None else None


instances.register_index(instances.Index("case_deadlines", order=10, sync=sync, remember=_remember))


def index_existing(batch: int = 500) -> int:
    """Write the rows of every case filed before the table existed (or rewrite them all):
    each case's workflow read once, a commit per batch. Returns the cases indexed."""
    done, after = 0, ""
    while True:
        ids = list(db.session.execute(sa.select(Case.id).where(Case.id > after).order_by(Case.id)
                                      .limit(batch)).scalars())
        if not ids:
            return done
        for row in db.session.execute(sa.select(instances.ProcessInstance)
                                      .where(instances.ProcessInstance.id.in_(ids))).scalars():
            workflow = instances.peek(row)
            sync(row, workflow)
            done += 1
        db.session.commit()
        after = ids[-1]


# --- the report ----------------------------------------------------------------------------

def report(year: int, regions, region: str | None = None, now: datetime | None = None) -> list[dict]:
    """One row per (region, month of filing) with cases in `year`; `regions` None: every
    region (of the configuration). Deadlines: met, missed, overdue (open past due at `now`)."""
    from flask import current_app
    wanted = [region] if region else sorted(regions if regions is not None else current_app.config["REGIONS"])
    if regions is not None:
        wanted = [r for r in wanted if r in regions]
    now = now or clock.now()
    rows: dict = {}
    if not wanted:
        return []
    _deadline_counts(rows, year, wanted, now)
    _case_figures(rows, year, wanted)
    result = []
    for key in sorted(rows):
        row = rows[key]
        days = row.pop("_days")
        row["median_working_days_to_decision"] = float(statistics.median(days)) if days else None
        result.append(row)
    return result


def deadline_counts_query(year: int, regions, now: datetime):
    """The aggregate over the index: per region, month and deadline, met / missed / overdue."""
    d = CaseDeadline
    overdue = sa.and_(d.met.is_(None), d.closed_at.is_(None), d.due_at < now)
    return (sa.select(d.region, d.filed_month, d.name,
                      sa.func.sum(sa.case((d.met.is_(True), 1), else_=0)),
                      sa.func.sum(sa.case((d.met.is_(False), 1), else_=0)),
                      sa.func.sum(sa.case((overdue, 1), else_=0)))
            .where(d.region.in_(list(regions)), d.filed_month >= f"{year:04d}-01",
                   d.filed_month <= f"{year:04d}-12", d.name.in_(STATUTORY))
            .group_by(d.region, d.filed_month, d.name))


def _deadline_counts(rows, year, regions, now) -> None:
    for region, month, name, met, missed, overdue in db.session.execute(deadline_counts_query(year, regions, now)):
        row = rows.get((region, month)) or rows.setdefault((region, month), _empty(region, month))
        row["deadlines"][name] = {"met": int(met or 0), "missed": int(missed or 0), "overdue": int(overdue or 0)}


def _case_figures(rows, year, regions) -> None:
    """Filed, decided, working days to decision, refusals by ground and escalated tasks, from
    the case rows of the year (their region and filing-time index), never a workflow."""
    calendar = current_calendar()
    start = datetime(year, 1, 1, tzinfo=calendar.tz)
    end = datetime(year + 1, 1, 1, tzinfo=calendar.tz)
    in_year = sa.and_(Case.region.in_(list(regions)), Case.created_at >= start, Case.created_at < end)
    month_of, days_between = {}, _WorkingDaysBetween(calendar, start.date())
    for case_id, region, created_at, decided_at, code in db.session.execute(
            sa.select(Case.id, Case.region, Case.created_at, Case.decided_at, Case.outcome_code).where(in_year)):
        filed_on = calendar.local_date(created_at)
        key = (region, filed_on.strftime("%Y-%m"))
        month_of[case_id] = key
        row = rows.get(key) or rows.setdefault(key, _empty(*key))
        row["filed"] += 1
        if decided_at is not None:
            row["decided"] += 1
            row["_days"].append(days_between(filed_on, calendar.local_date(decided_at)))
        if code in REFUSALS:
            row["refusals"] += 1
    for case_id, outcome in db.session.execute(
            sa.select(Case.id, Case.outcome).where(in_year, Case.outcome_code.in_(REFUSALS))):
        row = rows[month_of[case_id]]
        for ground in (outcome or {}).get("grounds") or []:
            code = ground.get("code") if isinstance(ground, dict) else ground
            if code:
                row["refusals_by_ground"][code] = row["refusals_by_ground"].get(code, 0) + 1
    task = tasks.HumanTask
    # One line per escalated task (few), counted here: grouping in SQL would sort the year's.
    for case_id in db.session.execute(
            sa.select(task.instance_id).join(Case, Case.id == task.instance_id)
            .where(in_year, task.escalated.is_(True))).scalars():
        rows[month_of[case_id]]["escalations"] += 1


class _WorkingDaysBetween:
    """calendar.working_days_between for many pairs of days: each day's count of working days
    since an origin is worked out once, so a pair costs a subtraction (the same answer)."""

    def __init__(self, calendar, origin):
        self.calendar, self.origin, self.counts = calendar, origin, [0]  # counts[i]: working days in (origin, origin + i]

    def _count(self, day) -> int:
        offset = (day - self.origin).days
        if offset < 0:
            return -self.calendar.working_days_between(day, self.origin)
        while len(self.counts) <= offset:
            next_day = self.origin + timedelta(days=len(self.counts))
            self.counts.append(self.counts[-1] + (1 if self.calendar.is_working_day(next_day) else 0))
        return self.counts[offset]

    def __call__(self, a, b) -> int:
        return self._count(b) - self._count(a)


def _empty(region, month):
    return {"region": region, "month": month, "filed": 0, "decided": 0,
            "deadlines": {name: {state: 0 for state in STATES} for name in STATUTORY},
            "median_working_days_to_decision": None, "escalations": 0, "refusals": 0,
            "refusals_by_ground": {}, "_days": []}
