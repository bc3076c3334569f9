"""The quota: no region issues more permits in a year than the ministry allowed (docs/law.md §6).

A unit is held for a case when its automatic checks pass (so an officer never approves a
case the quota cannot take), becomes the permit's when the permit is issued, and is freed on
refusal, withdrawal, revocation or expiry. The quota year is the year of `valid_from`.
Used = units held + units of currently valid permits; a revoked or expired permit frees its
unit.

Concurrent holds never exceed the quota: a hold locks the region's quota row first
(SELECT ... FOR UPDATE on PostgreSQL; on SQLite every write transaction starts with
BEGIN IMMEDIATE, so writers are serialized), then reads the region-year's use, then inserts,
all in the step's transaction. The use is a counter row (`quota_usage`: held, taken) changed in
the same transaction as every hold, take and release, so no hold counts the units of a year.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import object_session

from engine.db import UTCDateTime, db
from engine.operators import HandlerError, operator

from . import reference
from .durations import as_date
from .grounds import make_ground

HELD, TAKEN, RELEASED = "held", "taken", "released"
IN_USE = (HELD, TAKEN)


class QuotaNotHeld(HandlerError):
    """A permit is to be issued for a case that holds no quota unit for its region and year."""


class QuotaUnit(db.Model):
    __tablename__ = "quota_unit"
    __table_args__ = (sa.Index("ix_quota_unit_usage", "region", "year", "status"),)

    id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    region = sa.Column(sa.String(20), nullable=False)
    year = sa.Column(sa.Integer, nullable=False)
    instance_id = sa.Column(sa.String(36), nullable=False, index=True)
    permit_number = sa.Column(sa.String(40), index=True)
    status = sa.Column(sa.String(10), nullable=False)
    held_at = sa.Column(UTCDateTime, nullable=False)
    taken_at = sa.Column(UTCDateTime)
    released_at = sa.Column(UTCDateTime)
    release_reason = sa.Column(sa.String(50))

    def as_dict(self):
        iso = lambda v: v.isoformat() if v else None  # noqa: E731
        return {"unit_id": self.id, "region": self.region, "year": self.year,
                "instance_id": self.instance_id, "permit_number": self.permit_number,
                "status": self.status, "held_at": iso(self.held_at), "taken_at": iso(self.taken_at),
                "released_at": iso(self.released_at), "release_reason": self.release_reason}


class QuotaUsage(db.Model):
    """How many units of a region-year are held and taken: kept with every change of a unit."""
    __tablename__ = "quota_usage"

    region = sa.Column(sa.String(20), primary_key=True)
    year = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
    held = sa.Column(sa.Integer, nullable=False)
    taken = sa.Column(sa.Integer, nullable=False)


@operator("quota.hold")
def hold(ctx, region: str, valid_from: Any) -> dict:
    """`quota.hold`: hold one unit of the region's quota for the year of `valid_from`.

    `ok` is False with a `quota_exhausted` ground when every unit is in use. A case holds at
    most one unit: holding again returns the unit it has.
    """
    year = as_date(valid_from).year
    return hold_unit(ctx.session, region=region, year=year, instance_id=ctx.instance_id,
                     now=ctx.now(), region_name=ctx.config.get("REGIONS", {}).get(region, region))


@operator("quota.release")
def release(ctx, reason: str = "refused") -> dict:
    """`quota.release`: free the unit this case holds (refusal, withdrawal, lapse)."""
    unit = release_case_unit(ctx.session, ctx.instance_id, reason, ctx.now())
    return {"released": unit is not None, "reason": reason,
            "unit": unit.as_dict() if unit is not None else None}


def hold_unit(session, *, region: str, year: int, instance_id: str, now,
              region_name: str | None = None) -> dict:
    units = reference.quota_units(region, year, lock=True, session=session)
    mine = _case_units(session, instance_id, status=HELD)
    for unit in mine:
        if (unit.region, unit.year) == (region, year):
            return _result(session, region, year, units, held=True, unit=unit, already=True)
        # The case now asks for another region or year: it keeps one unit only.
        _release(unit, "superseded", now)
    session.flush()
    used = _used(session, region, year, lock=True)
    if used >= units:
        name = region_name or region
        ground = make_ground(
            "quota_exhausted", "quota.available",
            f"The quota of {name} for {year} is {units} permit(s), and all {used} are in use "
            f"(held by cases under consideration or taken by valid permits).",
            region=region, year=year, quota_units=units, used=used)
        return _result(session, region, year, units, held=False, unit=None, grounds=[ground], used=used)
    unit = QuotaUnit(region=region, year=year, instance_id=instance_id, status=HELD, held_at=now)
    session.add(unit)
    session.flush()
    count(session, region, year, held=1)
    return _result(session, region, year, units, held=True, unit=unit, used=used + 1)


def take_unit(session, *, instance_id: str, region: str, year: int, permit_number: str, now) -> QuotaUnit:
    """The case's held unit becomes the permit's (on issue)."""
    for unit in _case_units(session, instance_id, status=HELD):
        if (unit.region, unit.year) == (region, year):
            unit.status, unit.permit_number, unit.taken_at = TAKEN, permit_number, now
            count(session, region, year, held=-1, taken=1)
            return unit
    raise QuotaNotHeld(f"case {instance_id} holds no quota unit for {region} {year}: "
                       f"a permit is issued only on a held unit (run quota.hold first)")


def release_case_unit(session, instance_id: str, reason: str, now) -> QuotaUnit | None:
    """Free the unit a case holds; None when it holds none (released already, or never held)."""
    units = _case_units(session, instance_id, status=HELD)
    for unit in units:
        _release(unit, reason, now)
    return units[0] if units else None


def release_permit_unit(session, permit_number: str, reason: str, now) -> QuotaUnit | None:
    """Free the unit a permit took (revocation, expiry)."""
    unit = session.execute(sa.select(QuotaUnit).where(QuotaUnit.permit_number == permit_number,
                                                      QuotaUnit.status == TAKEN)).scalar_one_or_none()
    if unit is not None:
        _release(unit, reason, now)
    return unit


def usage(region: str, year: int, session=None) -> dict:
    """The quota, and how much of it is held and taken, for a region and year."""
    session = session or db.session
    units = reference.quota_units(region, year, session=session)
    row = session.get(QuotaUsage, (region, int(year)))
    held, taken = (row.held, row.taken) if row is not None else (0, 0)
    used = held + taken
    return {"region": region, "year": year, "quota_units": units, "held": held,
            "taken": taken, "used": used, "remaining": max(units - used, 0)}


def count(session, region: str, year: int, *, held: int = 0, taken: int = 0) -> None:
    """Change the region-year's use counter, in the caller's transaction (an atomic UPDATE:
    a release needs no quota lock to subtract)."""
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name]
    session.execute(insert(QuotaUsage).values(region=region, year=int(year), held=0, taken=0)
                    .on_conflict_do_nothing())
    session.execute(sa.update(QuotaUsage).where(QuotaUsage.region == region, QuotaUsage.year == int(year))
                    .values(held=QuotaUsage.held + held, taken=QuotaUsage.taken + taken)
                    .execution_options(synchronize_session=False))


def _result(session, region, year, units, *, held, unit, already=False, grounds=(), used=None) -> dict:
    if used is None:
        used = _used(session, region, year)
    return {"ok": held, "held": held, "already_held": already, "region": region, "year": year,
            "quota_units": units, "used": used, "remaining": max(units - used, 0),
            "unit_id": unit.id if unit is not None else None, "grounds": list(grounds)}


def _used(session, region, year, lock: bool = False) -> int:
    query = sa.select(QuotaUsage.held + QuotaUsage.taken).where(QuotaUsage.region == region,
                                                                 QuotaUsage.year == int(year))
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar() or 0


def _case_units(session, instance_id, status) -> list[QuotaUnit]:
    return list(session.execute(sa.select(QuotaUnit).where(
        QuotaUnit.instance_id == instance_id, QuotaUnit.status == status)
        .order_by(QuotaUnit.id)).scalars())


def _release(unit: QuotaUnit, reason: str, now) -> None:
    was = unit.status
    unit.status, unit.released_at, unit.release_reason = RELEASED, now, reason
    if was in IN_USE:
        count(object_session(unit), unit.region, unit.year, **{was: -1})
