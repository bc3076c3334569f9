"""Finding cases for officers: by number, IIN or applicant name, with filters, newest first.

Only case rows are searched: a procedure without one (the permit-validity watch, any internal
process) is not a case and never appears. What the officer typed is read in this order:

1. an exact application, case or permit number, or a 12-digit IIN: those cases;
2. otherwise words of the applicant's name, each the beginning of a word of the name in any
   writing (handlers.names): "kari rust" finds "Каримов Рустам".

Filters narrow either, or list every case when nothing is typed: status, kind, outcome, region,
filing dates, the officer (assignee of a task of the case, open or done: the one who decides a
task holds it) and overdue (an open task past its due time).

Each kind of query is driven by its own index: a number or IIN by the case's unique columns, a
name by case_name_token's primary key (a token range, the reader's regions checked on its
entries; several words: their ranges intersected), an officer by the task assignee index, and
a filter-only list by handlers.cases.search (the list indexes, walked in page order). The few
cases a name or officer matches are then sorted; the page is read by keyset (created_at, id).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

import sqlalchemy as sa

from engine import clock, instances, tasks
from engine.db import db

from . import cases, names
from .cases import Case, CaseNameToken

MIN_PREFIX = 2  # a one-letter beginning matches a large share of all names: not searched


class QueryError(ValueError):
    """What the officer typed cannot be searched; `field` names the form field."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclass
class Filters:
    q: str = ""
    status: str | None = None       # a key of handlers.cases.STATUSES
    kind: str | None = None         # a key of handlers.cases.KINDS
    outcome: str | None = None      # an outcome code
    region: str | None = None
    filed_from: datetime | None = None  # inclusive, UTC
    filed_to: datetime | None = None    # exclusive, UTC
    officer: str | None = None
    overdue: bool = False
    regions: frozenset | None = field(default=None)  # what the reader may see (None: every region)

    def any(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name != "regions")


def is_iin(text: str) -> bool:
    return len(text) == 12 and text.isdigit()


def name_prefixes(q: str) -> list[str]:
    """The folded words of a name query; raises QueryError when none is long enough."""
    words = names.tokens(q)
    kept = [w for w in words if len(w) >= MIN_PREFIX]
    if not kept:
        raise QueryError("q", "type at least two letters of a name, or a whole number or IIN")
    return kept


def find(filters: Filters, *, after: tuple | None = None, limit: int = 50) -> list[tuple[Case, str, tuple]]:
    """(case, instance status, place) of the matching cases, newest first, after `after`."""
    if filters.regions is not None and not filters.regions:
        return []
    q = (filters.q or "").strip()
    if q:
        numbered = _numbered(q)
        if numbered:
            return _page(_filtered(filters).where(Case.id.in_(numbered)), after, limit)
        return find_by_name(filters, after=after, limit=limit)
    if filters.officer or filters.overdue:
        return _page(_filtered(filters), after, limit)
    return cases.search(regions=filters.regions, region=filters.region, status=filters.status,
                        kind=filters.kind, outcome=filters.outcome, created_from=filters.filed_from,
                        created_to=filters.filed_to, after=after, limit=limit)


def find_by_name(filters: Filters, *, after: tuple | None = None, limit: int = 50) -> list[tuple[Case, str, tuple]]:
    """The cases whose applicant's name has a word starting with each word of `filters.q`."""
    if filters.regions is not None and not filters.regions:
        return []
    # The cases having a word that starts with each prefix (one range of the token index per
    # prefix, intersected) drive the query; their case rows are then read by key.
    regions = [filters.region] if filters.region else (sorted(filters.regions) if filters.regions is not None else None)
    words = [_words(prefix, regions) for prefix in name_prefixes(filters.q or "")]
    matched = (sa.intersect(*words) if len(words) > 1 else words[0].distinct()).subquery("matched")
    stmt = _filtered(filters, sa.select(Case, instances.ProcessInstance.status).select_from(matched)
                     .join(Case, Case.id == matched.c.case_id))
    return _page(stmt, after, limit)


def _numbered(q: str) -> list[str]:
    """The ids of the cases with this application, case or permit number or applicant IIN: one
    lookup of each unique or narrow index (an OR of them may be planned as a table scan)."""
    columns = [Case.application_no, Case.permit_no, Case.id] + ([Case.applicant_iin] if is_iin(q) else [])
    found: list[str] = []
    for column in columns:
        found += [i for i in db.session.execute(sa.select(Case.id).where(column == q).limit(1000)).scalars()
                  if i not in found]
    return found


def _words(prefix: str, regions: list | None):
    """The cases of these regions (None: every region) with a name word starting with `prefix`."""
    low, high = names.prefix_bounds(prefix)
    words = sa.select(CaseNameToken.case_id).where(CaseNameToken.token >= low)
    if high is not None:
        words = words.where(CaseNameToken.token < high)
    return words.where(CaseNameToken.region.in_(regions)) if regions is not None else words


def _filtered(filters: Filters, stmt=None):
    """The filters as conditions checked on the rows another index found (the few cases of a
    number, a name, an officer or the overdue tasks): each column is wrapped so that no planner
    walks a list index in page order (a region's every case) instead of the selective one."""
    instance = instances.ProcessInstance
    stmt = (stmt if stmt is not None else sa.select(Case, instance.status)).join(instance, instance.id == Case.id)
    if filters.regions is not None:
        stmt = stmt.where(_checked(Case.region).in_(sorted(filters.regions)))
    if filters.region:
        stmt = stmt.where(_checked(Case.region) == filters.region)
    if filters.status:
        stmt = stmt.where(_checked(instance.status).in_(cases.STATUSES[filters.status]))
    if filters.kind:
        stmt = stmt.where(_checked(Case.kind) == filters.kind)
    if filters.outcome:
        stmt = stmt.where(_checked(Case.outcome_code) == filters.outcome)
    if filters.filed_from:
        stmt = stmt.where(_checked(Case.created_at) >= filters.filed_from)
    if filters.filed_to:
        stmt = stmt.where(_checked(Case.created_at) < filters.filed_to)
    task = tasks.HumanTask
    if filters.officer:
        stmt = stmt.where(Case.id.in_(sa.select(task.instance_id).where(task.assignee == filters.officer)))
    if filters.overdue:
        overdue = sa.select(task.instance_id).where(task.status == tasks.READY, task.due_at.isnot(None),
                                                      task.due_at < clock.now())
        if filters.region or filters.regions is not None:  # a task is in its case's region
            overdue = overdue.where(task.region.in_([filters.region] if filters.region else sorted(filters.regions)))
        stmt = stmt.where(Case.id.in_(overdue))
    return stmt


def _checked(column):
    """The column's value as an expression no index answers (coalesce(x, x) is x)."""
    return sa.func.coalesce(column, column, type_=column.type)


def _page(stmt, after, limit):
    created = _checked(Case.created_at)
    if after:
        at, after_id = after
        stmt = stmt.where(sa.or_(created < at, sa.and_(created == at, _checked(Case.id) < after_id)))
    rows = db.session.execute(stmt.order_by(created.desc(), Case.id.desc()).limit(limit)).all()
    return [(case, status, (case.created_at, case.id)) for case, status in rows]
