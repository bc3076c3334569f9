"""The case index: one row per application or revocation, for client systems' look-ups.

The workflow state is the truth about where a case stands; this row holds what clients
search by (number, region, applicant, outcome) so that listing cases never loads a workflow.
The diagrams write the outcome with the `cases.record_outcome` operator at each end.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from engine import audit, clock, instances
from engine.db import Prepared, UTCDateTime, db, session_connection
from engine.operators import operator

from . import names

KINDS = ("issue", "extension", "revocation")
WITHDRAWN = "withdrawn"
CANCELLED = "cancelled"  # by an operator, with a reason
# A client's view of status: a withdrawn (terminated) case is completed with outcome `withdrawn`.
STATUSES = {"in_progress": (instances.IN_PROGRESS,), "incident": (instances.INCIDENT,),
            "completed": (instances.COMPLETED, instances.TERMINATED)}


class Case(db.Model):
    __tablename__ = "permit_case"
    # Every list filter, alone and with a region, walks an index in the list's order (newest
    # first, by created_at then id): a page reads its rows, never the whole history.
    __table_args__ = (
        sa.Index("ix_case_created", "created_at", "id"),
        sa.Index("ix_case_region_created", "region", "created_at", "id"),
        sa.Index("ix_case_kind_created", "kind", "created_at", "id"),
        sa.Index("ix_case_region_kind_created", "region", "kind", "created_at", "id"),
        sa.Index("ix_case_outcome_created", "outcome_code", "created_at", "id"),
        sa.Index("ix_case_region_outcome_created", "region", "outcome_code", "created_at", "id"),
        sa.Index("ix_case_applicant_created", "applicant_iin", "created_at", "id"),
    )

    id = sa.Column(sa.String(36), primary_key=True)  # the process instance's id
    kind = sa.Column(sa.String(20), nullable=False)
    application_no = sa.Column(sa.String(64), unique=True)
    request_hash = sa.Column(sa.String(64))
    channel = sa.Column(sa.String(10))
    region = sa.Column(sa.String(10), nullable=False)
    applicant_iin = sa.Column(sa.String(12))
    applicant_name = sa.Column(sa.String(300))
    permit_no = sa.Column(sa.String(40), index=True)
    outcome_code = sa.Column(sa.String(40))
    outcome = sa.Column(sa.JSON)
    created_at = sa.Column(UTCDateTime, nullable=False)
    created_by = sa.Column(sa.String(200), nullable=False)
    decided_at = sa.Column(UTCDateTime)


class CaseNameToken(db.Model):
    """One word of a case's applicant name, folded (handlers.names): the name search finds the
    cases whose words start with what the officer typed through the primary key's token order
    (`token >= 'kari' AND token < 'karj'`), never by reading the case table. The case's region
    (which never changes) is in the key too, so the officer's regions are checked on the index
    entries before any case row is read."""
    __tablename__ = "case_name_token"

    token = sa.Column(sa.String(names.TOKEN_LENGTH), primary_key=True)
    region = sa.Column(sa.String(10), primary_key=True)
    case_id = sa.Column(sa.String(36), sa.ForeignKey("permit_case.id"), primary_key=True)


def name_tokens(case_id: str, region: str, applicant_name: str | None) -> list[CaseNameToken]:
    return [CaseNameToken(token=token, region=region, case_id=case_id) for token in names.tokens(applicant_name)]


def open_case(kind: str, process_id: str, data: dict, *, region: str, created_by: str,
              application_no: str | None = None, request_hash: str | None = None,
              channel: str | None = None, applicant_iin: str | None = None,
              applicant_name: str | None = None, permit_no: str | None = None, commit: bool = True) -> Case:
    """Write the case row and start its procedure in one transaction, run to its first wait.
    `commit=False`: in the caller's transaction (flushed), which the caller commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown case kind {kind!r}")
    case = Case(id=str(uuid.uuid4()), kind=kind, application_no=application_no,
                request_hash=request_hash, channel=channel, region=region,
                applicant_iin=applicant_iin, applicant_name=applicant_name, permit_no=permit_no,
                created_at=clock.now(), created_by=created_by)
    db.session.add(case)
    db.session.flush()
    db.session.add_all(name_tokens(case.id, region, applicant_name))
    instances.start(process_id, dict(data, case_id=case.id), actor=created_by,
                    business_key=application_no or case.id, commit=False, instance_id=case.id)
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return case


def withdraw(case: Case, actor: str, reason: str | None = None) -> bool:
    """The applicant withdraws a case still in progress: the procedure ends where it stands,
    any quota unit the case holds is released, and the outcome is `withdrawn`; one transaction.
    Returns False when it was withdrawn before (retrying is safe)."""
    if case.kind == "revocation" and case.outcome_code != WITHDRAWN:
        raise ValueError("a revocation is not withdrawn by the applicant")
    return _end(case, WITHDRAWN, "case_withdrawn", actor, reason or "withdrawn by the applicant",
                audited_reason=reason)


def cancel(case: Case, actor: str, reason: str) -> bool:
    """An operator cancels a case (a duplicate, a filing in error, a stuck incident): as a
    withdrawal, but any kind of case, a reason required, and the outcome `cancelled`.
    Returns False when it was cancelled before."""
    if not (reason or "").strip():
        raise ValueError("give the reason for cancelling the case")
    return _end(case, CANCELLED, "case_cancelled", actor, reason.strip(), audited_reason=reason.strip())


def move(case: Case, actor: str, activity: str, data: dict | None, reason: str):
    """Restart a case at an activity it reached before (engine.modification.move), unless it
    has an outcome: an outcome is told to the applicant and to client systems, never taken back."""
    from engine import modification
    if case.outcome_code is not None:
        raise ValueError(f"the case is already decided ({case.outcome_code}); a decided case is not moved")
    try:
        row = modification.move(case.id, actor, activity, data, reason)
    except BaseException:
        db.session.rollback()
        raise
    return row


def _end(case: Case, code: str, event: str, actor: str, reason: str, audited_reason) -> bool:
    """End the procedure where it stands (tasks, timers, jobs, subscriptions), release a held
    quota unit, record the outcome `code`; one transaction."""
    from . import quota
    if case.outcome_code == code:
        return False
    if case.outcome_code is not None:
        raise ValueError(f"the case is already decided ({case.outcome_code})")
    try:
        instances.cancel(case.id, actor, reason, commit=False)
        now = clock.now()
        unit = quota.release_case_unit(db.session, case.id, code, now)
        case.outcome_code, case.decided_at = code, now
        case.outcome = {"code": code, "grounds": [], "decided_at": now.isoformat(), "decided_by": actor}
        audit.record(event, actor=actor, instance_id=case.id,
                     details={"reason": audited_reason, "quota_unit_released": unit is not None})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return True


def search(*, regions=None, region=None, status=None, kind=None, outcome=None, applicant_iin=None,
           created_from=None, created_to=None, after=None, limit=50) -> list[tuple[Case, str, tuple]]:
    """Cases with their instance status and their place in the list, newest first; `after` is
    the place of the last case of the previous page. Reads only the index rows, never a workflow.

    A case and its instance are created in one transaction, so ordering by either's creation
    time gives the same list. A status filter walks the instance's (status, created_at) index
    once per instance status it covers (completed: completed and terminated), merged here;
    every other filter walks the case's own indexes, each in the list's order."""
    filters = dict(regions=regions, region=region, kind=kind, outcome=outcome, applicant_iin=applicant_iin,
                   created_from=created_from, created_to=created_to, after=after, limit=limit)
    if not status:
        return _page(None, **filters)
    rows = [row for state in STATUSES[status] for row in _page(state, **filters)]
    return sorted(rows, key=lambda row: row[2], reverse=True)[:limit]


def _page(state, *, regions, region, kind, outcome, applicant_iin, created_from, created_to, after, limit):
    instance = instances.ProcessInstance
    table, created, ident = (instance, instance.created_at, instance.id) if state else \
        (Case, Case.created_at, Case.id)
    stmt = sa.select(Case, instance.status, created).join(instance, instance.id == Case.id)
    if state:
        stmt = stmt.where(instance.status == state)
    if region:
        stmt = stmt.where(table.region == region)
    elif regions:
        stmt = stmt.where(table.region.in_(regions))
    for column, value in ((Case.kind, kind), (Case.outcome_code, outcome), (Case.applicant_iin, applicant_iin)):
        if value:
            stmt = stmt.where(column == value)
    if created_from:
        stmt = stmt.where(created >= created_from)
    if created_to:
        stmt = stmt.where(created < created_to)
    if after:
        at, after_id = after
        stmt = stmt.where(sa.or_(created < at, sa.and_(created == at, ident < after_id)))
    rows = db.session.execute(stmt.order_by(created.desc(), ident.desc()).limit(limit)).all()
    return [(case, status, (at, case.id)) for case, status, at in rows]


def get(case_id: str) -> Case | None:
    return db.session.get(Case, case_id)


def exists(case_id: str) -> bool:
    """Whether a case has this id (its instance's id): one indexed look-up, no row loaded."""
    return bool(_EXISTS.rows(session_connection(), {"case_id": case_id}))


_EXISTS = Prepared(sa.select(sa.literal(1)).where(Case.__table__.c.id == sa.bindparam("case_id")))


def by_application_no(application_no: str) -> Case | None:
    return db.session.execute(sa.select(Case).filter_by(application_no=application_no)).scalar_one_or_none()


@operator("cases.record_outcome")
def record_outcome(ctx, code, grounds=None, decided_by=None, permit_no=None):
    """The case's one outcome, as the diagram reached it; returned into the case data too."""
    case = ctx.session.get(Case, ctx.instance_id)
    if case is None:
        raise LookupError(f"no case row for instance {ctx.instance_id}")
    if case.outcome_code is not None:
        raise ValueError(f"case {case.id} already has the outcome {case.outcome_code!r}")
    now = ctx.now()
    outcome = {"code": code, "grounds": list(grounds or []), "decided_at": now.isoformat(),
               "decided_by": decided_by or "system"}
    case.outcome_code, case.outcome, case.decided_at = code, outcome, now
    if permit_no:
        case.permit_no = permit_no
    from . import documents_pdf
    # The document the decision calls for is made now, once, in the same transaction.
    documents_pdf.issue_for_outcome(ctx, case, dict(outcome, permit_no=permit_no))
    return outcome
