"""Substitution: while an officer is absent (from–to, days inclusive), a substitute works their tasks.

The substitute (an officer of the same region, so the queue they share shows new tasks to both)
sees the absent officer's claimed tasks among their own ("mine"); claiming one moves it to them. Who
may set one (the officer, their supervisor) is the web layer's rule; this module keeps the dates.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from . import audit, clock
from .db import UTCDateTime, db
from .exceptions import NotFound

MAX_DAYS = 366  # an absence longer than a year is not a substitution but a transfer


class Substitution(db.Model):
    __tablename__ = "substitution"
    __table_args__ = (sa.Index("ix_substitution_substitute", "substitute", "ends_on"),
                      sa.Index("ix_substitution_absent", "absent", "ends_on"))

    id = sa.Column(sa.Integer, primary_key=True)
    absent = sa.Column(sa.String(100), nullable=False)
    substitute = sa.Column(sa.String(100), nullable=False)
    starts_on = sa.Column(sa.Date, nullable=False)
    ends_on = sa.Column(sa.Date, nullable=False)
    created_by = sa.Column(sa.String(200), nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False)
    ended_by = sa.Column(sa.String(200))
    ended_at = sa.Column(UTCDateTime)


class SubstitutionError(ValueError):
    """A substitution refused; `field` names the form field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def today() -> date:
    return clock.local_now().date()


def add(absent: str, substitute: str, starts_on: date, ends_on: date, *, actor: str) -> Substitution:
    if absent == substitute:
        raise SubstitutionError("substitute", "an officer cannot substitute for themselves")
    if ends_on < starts_on:
        raise SubstitutionError("ends_on", "the absence ends before it starts")
    if ends_on < today():
        raise SubstitutionError("ends_on", "the absence is over already")
    if (ends_on - starts_on).days >= MAX_DAYS:
        raise SubstitutionError("ends_on", "an absence is at most a year")
    overlapping = db.session.execute(sa.select(Substitution.id).where(
        Substitution.absent == absent, Substitution.ended_at.is_(None),
        Substitution.starts_on <= ends_on, Substitution.ends_on >= starts_on)).first()
    if overlapping is not None:
        raise SubstitutionError("starts_on", "another substitution covers part of these days")
    row = Substitution(absent=absent, substitute=substitute, starts_on=starts_on, ends_on=ends_on,
                       created_by=actor, created_at=clock.now())
    db.session.add(row)
    db.session.flush()
    audit.record("substitution_set", actor=actor, details={
        "id": row.id, "absent": absent, "substitute": substitute,
        "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()})
    db.session.commit()
    return row


def end(substitution_id: int, *, actor: str) -> Substitution:
    """End a substitution now (the officer is back early, or it was set by mistake)."""
    row = db.session.get(Substitution, substitution_id)
    if row is None or row.ended_at is not None:
        raise NotFound(f"no substitution {substitution_id}")
    row.ended_at, row.ended_by = clock.now(), actor
    audit.record("substitution_ended", actor=actor, details={
        "id": row.id, "absent": row.absent, "substitute": row.substitute})
    db.session.commit()
    return row


def _in_force(day: date):
    return sa.and_(Substitution.ended_at.is_(None), Substitution.starts_on <= day, Substitution.ends_on >= day)


def covered_by(substitute: str, day: date | None = None) -> frozenset[str]:
    """The officers `substitute` stands in for on `day` (today by default)."""
    day = day or today()
    return frozenset(db.session.execute(sa.select(Substitution.absent).where(
        Substitution.substitute == substitute, _in_force(day))).scalars())


def current_and_coming(names=None) -> list[Substitution]:
    """Substitutions not ended and not over, of these absent officers (None: everyone's)."""
    query = sa.select(Substitution).where(Substitution.ended_at.is_(None), Substitution.ends_on >= today())
    if names is not None:
        query = query.where(sa.or_(Substitution.absent.in_(names), Substitution.substitute.in_(names)))
    return list(db.session.execute(query.order_by(Substitution.starts_on, Substitution.id)).scalars())
