"""The register of permits: issue, extension, revocation, expiry, and look-ups.

A permit's number is `<region>-<year>-<sequence>` (docs/law.md §9): the year is the quota year
(the year of `valid_from`), the sequence counts per region and year, zero-padded to
PERMIT_NUMBER_SEQUENCE_DIGITS. Sequences are allocated by an atomic
`UPDATE ... SET last_value = last_value + 1 RETURNING` on the region-year row, so concurrent
issues never share a number. Every change is a history event naming the case that made it.

A permit is valid through the end of its `valid_to` day in CALENDAR_TIMEZONE; after that it
expires (not a revocation). Revocation and expiry free the permit's quota unit in the same
transaction.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import postgresql, sqlite

from engine import clock
from engine.db import UTCDateTime, db
from engine.operators import HandlerError, operator

from . import quota
from .durations import as_date, check_months, extension_check, months_between, valid_to as period_end
from .grounds import make_ground, revocation_ground
from .identity import iin_problems, mask_iin

ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"
ISSUED, EXTENDED = "issued", "extended"
INITIATOR_TYPES = ("officer", "police", "employer", "esutd")


class PermitNotActive(HandlerError):
    """A change the register refuses: the permit is not active, or the change breaks a rule."""


class Permit(db.Model):
    __tablename__ = "permit"
    __table_args__ = (sa.UniqueConstraint("region", "year", "sequence", name="uq_permit_sequence"),)

    id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    number = sa.Column(sa.String(40), nullable=False, unique=True)
    region = sa.Column(sa.String(20), nullable=False)
    year = sa.Column(sa.Integer, nullable=False)
    sequence = sa.Column(sa.Integer, nullable=False)
    status = sa.Column(sa.String(10), nullable=False, index=True)
    holder_iin = sa.Column(sa.String(12), nullable=False, index=True)
    holder_surname = sa.Column(sa.String(200), nullable=False)
    holder_given_name = sa.Column(sa.String(200), nullable=False)
    holder_patronymic = sa.Column(sa.String(200))
    holder_citizenship = sa.Column(sa.String(2))
    employer_iin = sa.Column(sa.String(12), nullable=False, index=True)
    employer_name = sa.Column(sa.String(400), nullable=False)
    valid_from = sa.Column(sa.Date, nullable=False)
    valid_to = sa.Column(sa.Date, nullable=False)
    issued_on = sa.Column(sa.Date, nullable=False)
    issued_at = sa.Column(UTCDateTime, nullable=False)
    issued_by_case = sa.Column(sa.String(36), nullable=False, index=True)
    updated_at = sa.Column(UTCDateTime, nullable=False)
    ended_at = sa.Column(UTCDateTime)
    revocation_ground = sa.Column(sa.String(50))
    revocation_comment = sa.Column(sa.Text)

    events = orm.relationship("PermitEvent", order_by="PermitEvent.id", lazy="selectin",
                                 back_populates="permit")

    @property
    def holder_name(self) -> str:
        return " ".join(p for p in (self.holder_surname, self.holder_given_name,
                                    self.holder_patronymic) if p)

    @property
    def months(self) -> int:
        return months_between(self.valid_from, self.valid_to)

    def as_dict(self, history: bool = True) -> dict:
        result = {
            "number": self.number, "region": self.region, "year": self.year,
            "status": self.status,
            "holder": {"iin": self.holder_iin, "surname": self.holder_surname,
                       "given_name": self.holder_given_name, "patronymic": self.holder_patronymic,
                       "name": self.holder_name, "citizenship": self.holder_citizenship},
            "employer": {"iin": self.employer_iin, "name": self.employer_name},
            "valid_from": self.valid_from.isoformat(), "valid_to": self.valid_to.isoformat(),
            "months": self.months, "issued_on": self.issued_on.isoformat(),
            "issued_at": self.issued_at.isoformat(), "issued_by_case": self.issued_by_case,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "revocation": ({"ground": self.revocation_ground, "comment": self.revocation_comment}
                           if self.status == REVOKED else None),
        }
        if history:
            result["history"] = [e.as_dict() for e in self.events]
        return result


class PermitEvent(db.Model):
    """One change of a permit: issued, extended, revoked, expired; by which case."""

    __tablename__ = "permit_event"

    id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    permit_id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                          sa.ForeignKey("permit.id"), nullable=False, index=True)
    event = sa.Column(sa.String(20), nullable=False)
    at = sa.Column(UTCDateTime, nullable=False)
    instance_id = sa.Column(sa.String(36), index=True)
    actor = sa.Column(sa.String(200), nullable=False)
    details = sa.Column(sa.JSON, nullable=False, default=dict)

    permit = orm.relationship("Permit", back_populates="events")

    def as_dict(self) -> dict:
        return {"event": self.event, "at": self.at.isoformat(), "instance_id": self.instance_id,
                "actor": self.actor, "details": self.details}


class PermitSequence(db.Model):
    __tablename__ = "permit_sequence"

    region = sa.Column(sa.String(20), primary_key=True)
    year = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
    last_value = sa.Column(sa.Integer, nullable=False)


# --- look-ups (API) -------------------------------------------------------------------------

def get_permit(number: str, session=None) -> Permit | None:
    session = session or db.session
    return session.execute(sa.select(Permit).filter_by(number=number)).scalar_one_or_none()


def permits_by_holder(iin: str, session=None) -> list[Permit]:
    """Every permit of a holder, the newest first."""
    session = session or db.session
    return list(session.execute(sa.select(Permit).filter_by(holder_iin=iin)
                                .order_by(Permit.valid_from.desc(), Permit.id.desc())).scalars())


def held_permit_issued_in(iin: str, year: int, session=None) -> bool:
    """Was this person issued a permit in `year`? (The fingerprint waiver, docs/law.md §2.)"""
    session = session or db.session
    return session.execute(sa.select(sa.func.count()).select_from(Permit).where(
        Permit.holder_iin == iin, Permit.issued_on >= date(year, 1, 1),
        Permit.issued_on <= date(year, 12, 31))).scalar_one() > 0


# --- operators ------------------------------------------------------------------------------

@operator("permits.register")
def register(ctx, region: str, holder: Mapping[str, Any], employer: Mapping[str, Any],
             valid_from: Any, months: int) -> dict:
    """`permits.register`: issue the permit, on the quota unit this case holds.

    `holder`: {iin, surname, given_name, patronymic?, citizenship?}; `employer`: {iin, name}.
    Registering again from the same case returns the permit it already issued.
    """
    existing = ctx.session.execute(sa.select(Permit).filter_by(
        issued_by_case=ctx.instance_id)).scalar_one_or_none() if ctx.instance_id else None
    if existing is not None:
        return existing.as_dict()
    permit = issue(ctx.session, region=region, holder=holder, employer=employer,
                   valid_from=valid_from, months=months, instance_id=ctx.instance_id,
                   actor=ctx.actor, config=ctx.config, now=ctx.now())
    return permit.as_dict()


@operator("permits.lookup")
def lookup(ctx, permit_no: str) -> dict:
    """`permits.lookup`: the permit as the register holds it, or {"found": False}.

    `ends_at` is the instant it stops being valid (midnight after `valid_to`, local time).
    """
    permit = get_permit(permit_no, ctx.session)
    if permit is None:
        return {"found": False, "number": permit_no}
    return {"found": True, **permit.as_dict(), "ends_at": end_of_validity(permit, ctx.config).isoformat()}


@operator("permits.check_extension")
def check_extension(ctx, permit_no: str, holder_iin: str, employer_iin: str,
                    additional_months: int) -> dict:
    """`permits.check_extension`: may this permit be extended by `additional_months`?

    Grounds: `permit_not_active` (missing, not active, another holder or employer) and
    `stay_limit_exceeded` (the total would pass MAX_TOTAL_MONTHS).
    """
    permit = get_permit(permit_no, ctx.session)
    today = _local_today(ctx.config, ctx.now())
    problems = _extension_problems(permit, permit_no, holder_iin, employer_iin, today)
    grounds = []
    if problems:
        grounds.append(make_ground("permit_not_active", "permits.extendable", " ".join(problems),
                                   permit_number=permit_no))
    result = {"permit_number": permit_no, "permit": permit.as_dict(history=False) if permit else None,
              "additional_months": additional_months}
    if permit is not None:
        cap = extension_check(permit.valid_from, permit.valid_to, additional_months,
                              int(ctx.config["MAX_TOTAL_MONTHS"]))
        grounds.extend(cap["grounds"])
        result.update({k: cap[k] for k in ("current_months", "total_months", "max_total_months",
                                            "new_valid_to")})
        result["period_from"] = (permit.valid_to + timedelta(days=1)).isoformat()
    return {"ok": not grounds, **result, "grounds": grounds}


@operator("permits.extend")
def extend(ctx, permit_no: str, additional_months: int) -> dict:
    """`permits.extend`: move the permit's `valid_to` forward; it keeps its quota unit."""
    permit = _locked(ctx.session, permit_no)
    if permit.status != ACTIVE:
        raise PermitNotActive(f"permit {permit_no} is {permit.status}, so it cannot be extended")
    cap = extension_check(permit.valid_from, permit.valid_to, additional_months,
                          int(ctx.config["MAX_TOTAL_MONTHS"]))
    if not cap["ok"]:
        raise PermitNotActive(cap["grounds"][0]["evidence"])
    before = permit.valid_to
    permit.valid_to = as_date(cap["new_valid_to"])
    _event(ctx.session, permit, EXTENDED, ctx, {"valid_to_before": before.isoformat(),
                                                 "valid_to_after": permit.valid_to.isoformat(),
                                                 "additional_months": additional_months,
                                                 "total_months": cap["total_months"]})
    return permit.as_dict()


@operator("permits.revoke")
def revoke(ctx, permit_no: str, ground: str, initiator_type: str, initiator_id: str,
           comment: str | None = None, confirmed_by: str | None = None) -> dict:
    """`permits.revoke`: revoke an active permit and free its quota unit.

    `revoked` is False (and nothing changes) when the permit is no longer active.
    """
    revocation_ground(ground)  # an unknown ground is an error, not a revocation
    if initiator_type not in INITIATOR_TYPES:
        raise ValueError(f"initiator_type must be one of {INITIATOR_TYPES}, not {initiator_type!r}")
    if ground == "other" and not (comment or "").strip():
        raise ValueError("the ground 'other' needs the officer's text")
    permit = _locked(ctx.session, permit_no)
    if permit.status != ACTIVE:
        return {"revoked": False, "reason": f"the permit is {permit.status}", **permit.as_dict()}
    now = ctx.now()
    permit.status, permit.ended_at = REVOKED, now
    permit.revocation_ground, permit.revocation_comment = ground, comment
    unit = quota.release_permit_unit(ctx.session, permit.number, "revoked", now)
    _event(ctx.session, permit, REVOKED, ctx, {
        "ground": ground, "comment": comment, "initiator": {"type": initiator_type, "id": initiator_id},
        "confirmed_by": confirmed_by, "quota_unit_released": unit is not None})
    return {"revoked": True, **permit.as_dict()}


@operator("permits.expire")
def expire(ctx, permit_no: str) -> dict:
    """`permits.expire`: expire the permit once its `valid_to` day has ended, freeing its unit.

    `expired` is False when the permit is still valid (extended meanwhile) or already ended.
    """
    permit = _locked(ctx.session, permit_no)
    now = ctx.now()
    ends_at = end_of_validity(permit, ctx.config)
    if permit.status != ACTIVE or now < ends_at:
        return {"expired": False, "ends_at": ends_at.isoformat(), **permit.as_dict()}
    permit.status, permit.ended_at = EXPIRED, now
    unit = quota.release_permit_unit(ctx.session, permit.number, "expired", now)
    _event(ctx.session, permit, EXPIRED, ctx, {"valid_to": permit.valid_to.isoformat(),
                                               "quota_unit_released": unit is not None})
    return {"expired": True, "ends_at": ends_at.isoformat(), **permit.as_dict()}


# --- the register's rules -------------------------------------------------------------------

def issue(session, *, region: str, holder: Mapping[str, Any], employer: Mapping[str, Any],
          valid_from: Any, months: int, instance_id: str, actor: str, config: Mapping[str, Any],
          now: datetime) -> Permit:
    """Number and register a permit, taking the case's quota unit."""
    if region not in config["REGIONS"]:
        raise ValueError(f"unknown region {region!r}")
    length = check_months(months, config)
    if not length["ok"]:
        raise ValueError(f"a permit lasts {length['min_months']} to {length['max_months']} whole "
                         f"months, not {months!r}")
    for who, iin in (("holder", holder.get("iin")), ("employer", employer.get("iin"))):
        if iin_problems(iin):
            raise ValueError(f"{who} IIN {mask_iin(iin)}: " + "; ".join(iin_problems(iin)))
    for field in ("surname", "given_name"):
        if not str(holder.get(field) or "").strip():
            raise ValueError(f"the holder's {field} is missing")
    if not str(employer.get("name") or "").strip():
        raise ValueError("the employer's name is missing")
    start = as_date(valid_from)
    year = start.year
    sequence = next_sequence(session, region, year)
    number = format_number(region, year, sequence, int(config["PERMIT_NUMBER_SEQUENCE_DIGITS"]))
    quota.take_unit(session, instance_id=instance_id, region=region, year=year,
                    permit_number=number, now=now)
    permit = Permit(
        number=number, region=region, year=year, sequence=sequence, status=ACTIVE,
        holder_iin=holder["iin"], holder_surname=holder["surname"].strip(),
        holder_given_name=holder["given_name"].strip(),
        holder_patronymic=(holder.get("patronymic") or "").strip() or None,
        holder_citizenship=(holder.get("citizenship") or "").strip().upper() or None,
        employer_iin=employer["iin"], employer_name=employer["name"].strip(),
        valid_from=start, valid_to=period_end(start, months),
        issued_on=_local_today(config, now), issued_at=now, issued_by_case=instance_id,
        updated_at=now)
    session.add(permit)
    session.flush()
    session.add(PermitEvent(permit_id=permit.id, event=ISSUED, at=now, instance_id=instance_id,
                            actor=actor, details={"valid_from": permit.valid_from.isoformat(),
                                                  "valid_to": permit.valid_to.isoformat(),
                                                  "months": months}))
    session.flush()
    session.refresh(permit, ["events"])
    return permit


def next_sequence(session, region: str, year: int) -> int:
    """The next sequence number for a region and year (atomic; safe under concurrency)."""
    bump = (sa.update(PermitSequence)
            .where(PermitSequence.region == region, PermitSequence.year == year)
            .values(last_value=PermitSequence.last_value + 1)
            .returning(PermitSequence.last_value)
            .execution_options(synchronize_session=False))
    value = session.execute(bump).scalar_one_or_none()
    if value is None:
        # First permit of the region and year: create the row (a concurrent creator wins
        # quietly), then bump it like everyone else.
        insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name]
        session.execute(insert(PermitSequence).values(region=region, year=year, last_value=0)
                        .on_conflict_do_nothing())
        value = session.execute(bump).scalar_one()
    return value


def format_number(region: str, year: int, sequence: int, digits: int) -> str:
    return f"{region}-{year}-{sequence:0{digits}d}"


def end_of_validity(permit: Permit, config: Mapping[str, Any]) -> datetime:
    """The instant the permit stops being valid: midnight after `valid_to`, local time."""
    tz = clock.local_zone(config)
    return datetime.combine(permit.valid_to + timedelta(days=1), time(0), tz)


def _extension_problems(permit, permit_no, holder_iin, employer_iin, today) -> list[str]:
    if permit is None:
        return [f"No permit {permit_no} is in the register."]
    problems = []
    if permit.status != ACTIVE:
        problems.append(f"Permit {permit_no} is {permit.status}.")
    elif permit.valid_to < today:
        problems.append(f"Permit {permit_no} was valid until {permit.valid_to:%d.%m.%Y}.")
    if permit.holder_iin != holder_iin:
        problems.append(f"Permit {permit_no} was issued to another person, not to the applicant "
                        f"(IIN {mask_iin(holder_iin)}).")
    if permit.employer_iin != employer_iin:
        problems.append(f"Permit {permit_no} names another employer, not the employer of this "
                        f"request (IIN {mask_iin(employer_iin)}).")
    return problems


def _locked(session, permit_no: str) -> Permit:
    permit = session.execute(sa.select(Permit).filter_by(number=permit_no)
                             .with_for_update()).scalar_one_or_none()
    if permit is None:
        raise LookupError(f"no permit {permit_no} in the register")
    return permit


def _event(session, permit: Permit, event: str, ctx, details: dict) -> None:
    now = ctx.now()
    permit.updated_at = now
    session.add(PermitEvent(permit_id=permit.id, event=event, at=now, instance_id=ctx.instance_id,
                            actor=ctx.actor, details=details))
    session.flush()
    session.refresh(permit, ["events"])


def _local_today(config: Mapping[str, Any], now: datetime) -> date:
    return clock.to_local(now, config).date()

