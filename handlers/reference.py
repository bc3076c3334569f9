"""Reference data an administrator loads and changes (docs/law.md §6).

Quotas per region and year, the MCI and the IIT rate per year, regional coefficients, the
eligible citizenships, and the data the built-in simulators answer from: the police watch
list and "silent" list, and the employment contracts registered in ЕСУТД.

Every change goes through a function here, which writes an audit event into the same
transaction (the `flask reference ...` commands commit). Operators read through the look-ups;
a figure that is not loaded raises `MissingReferenceData`, an incident an operator sees,
never a silent zero. IINs and passport numbers reach the audit log masked.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

import sqlalchemy as sa

from engine import audit, clock
from engine.db import UTCDateTime, db

from .durations import as_date
from .identity import iin_problems, mask_iin, mask_passport

WATCH, SILENT = "watch", "silent"
POLICE_LISTS = (WATCH, SILENT)
CHANGED = "reference_changed"
ALL_REGIONS = "*"  # in a loaded file: every configured region not named on its own


class MissingReferenceData(LookupError):
    """A figure the law needs (a quota, an MCI, a rate, a coefficient) is not loaded."""


class Quota(db.Model):
    __tablename__ = "reference_quota"

    region = sa.Column(sa.String(20), primary_key=True)
    year = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
    units = sa.Column(sa.Integer, nullable=False)
    updated_at = sa.Column(UTCDateTime, nullable=False)
    updated_by = sa.Column(sa.String(200), nullable=False)


class Mci(db.Model):
    __tablename__ = "reference_mci"

    year = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
    amount_kzt = sa.Column(sa.Integer, nullable=False)
    updated_at = sa.Column(UTCDateTime, nullable=False)
    updated_by = sa.Column(sa.String(200), nullable=False)


class TaxRate(db.Model):
    __tablename__ = "reference_tax_rate"

    year = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
    rate_mci_per_month = sa.Column(sa.Numeric(8, 3), nullable=False)
    updated_at = sa.Column(UTCDateTime, nullable=False)
    updated_by = sa.Column(sa.String(200), nullable=False)


class RegionalCoefficient(db.Model):
    __tablename__ = "reference_regional_coefficient"

    region = sa.Column(sa.String(20), primary_key=True)
    coefficient = sa.Column(sa.Numeric(8, 4), nullable=False)
    updated_at = sa.Column(UTCDateTime, nullable=False)
    updated_by = sa.Column(sa.String(200), nullable=False)


class EligibleCitizenship(db.Model):
    __tablename__ = "reference_citizenship"

    code = sa.Column(sa.String(2), primary_key=True)
    updated_at = sa.Column(UTCDateTime, nullable=False)
    updated_by = sa.Column(sa.String(200), nullable=False)


class PoliceListEntry(db.Model):
    """A person the police simulator objects to (`watch`) or never answers for (`silent`)."""

    __tablename__ = "reference_police_list"

    id = sa.Column(sa.Integer, primary_key=True)
    list_name = sa.Column(sa.String(10), nullable=False)
    iin = sa.Column(sa.String(12), index=True)
    passport_no = sa.Column(sa.String(30), index=True)
    reason = sa.Column(sa.Text)
    updated_at = sa.Column(UTCDateTime, nullable=False)
    updated_by = sa.Column(sa.String(200), nullable=False)

    def as_dict(self, masked: bool = True):
        return {"id": self.id, "list": self.list_name,
                "iin": mask_iin(self.iin) if masked else self.iin,
                "passport_no": mask_passport(self.passport_no) if masked else self.passport_no,
                "reason": self.reason}


class RegisteredContract(db.Model):
    """An employment contract as the ЕСУТД simulator knows it."""

    __tablename__ = "reference_esutd_contract"
    __table_args__ = (sa.Index("ix_esutd_contract_parties", "employer_iin", "worker_iin"),)

    id = sa.Column(sa.Integer, primary_key=True)
    number = sa.Column(sa.String(50), nullable=False, unique=True)
    employer_iin = sa.Column(sa.String(12), nullable=False)
    worker_iin = sa.Column(sa.String(12), nullable=False)
    starts_on = sa.Column(sa.Date, nullable=False)
    ends_on = sa.Column(sa.Date)
    terminated_on = sa.Column(sa.Date)
    registered_on = sa.Column(sa.Date, nullable=False)
    updated_at = sa.Column(UTCDateTime, nullable=False)
    updated_by = sa.Column(sa.String(200), nullable=False)

    def as_dict(self, masked: bool = False):
        iso = lambda d: d.isoformat() if d else None  # noqa: E731
        iin = mask_iin if masked else (lambda v: v)
        return {"number": self.number, "employer_iin": iin(self.employer_iin),
                "worker_iin": iin(self.worker_iin), "starts_on": iso(self.starts_on),
                "ends_on": iso(self.ends_on), "terminated_on": iso(self.terminated_on),
                "registered_on": iso(self.registered_on)}


# --- look-ups (operators) -------------------------------------------------------------------

def quota_units(region: str, year: int, *, lock: bool = False, session=None) -> int:
    """The region's quota for the year; `lock` takes the row lock that serializes holders."""
    session = session or db.session
    query = sa.select(Quota).where(Quota.region == region, Quota.year == int(year))
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise MissingReferenceData(f"quota for region {region} in {year} is not loaded")
    return row.units


def tax_tables(year: int, region: str, session=None) -> dict:
    """The figures `handlers.tax` needs for one year and region, shaped as its `tables`.

    Only what is loaded is returned: a missing one makes the tax rule raise MissingReferenceData.
    """
    session = session or db.session
    mci = session.get(Mci, int(year))
    rate = session.get(TaxRate, int(year))
    coefficient = session.get(RegionalCoefficient, region)
    return {
        "mci": {int(year): mci.amount_kzt} if mci else {},
        "rate_mci_per_month": {int(year): rate.rate_mci_per_month} if rate else {},
        "regional_coefficient": {region: coefficient.coefficient} if coefficient else {},
    }


def eligible_citizenships(session=None) -> list[str]:
    session = session or db.session
    codes = list(session.execute(sa.select(EligibleCitizenship.code)
                                 .order_by(EligibleCitizenship.code)).scalars())
    if not codes:
        # An empty table would refuse everyone without a word: that is a loading error.
        raise MissingReferenceData("no eligible citizenships are loaded")
    return codes


def police_listings(iin: str | None, passport_no: str | None, session=None) -> list[PoliceListEntry]:
    """Entries of either police list naming this IIN or this passport number."""
    session = session or db.session
    conditions = []
    if iin:
        conditions.append(PoliceListEntry.iin == iin)
    if passport_no:
        conditions.append(PoliceListEntry.passport_no == normalise_passport(passport_no))
    if not conditions:
        return []
    return list(session.execute(sa.select(PoliceListEntry).where(sa.or_(*conditions))
                                .order_by(PoliceListEntry.id)).scalars())


def contracts_between(employer_iin: str, worker_iin: str, session=None) -> list[RegisteredContract]:
    session = session or db.session
    return list(session.execute(
        sa.select(RegisteredContract).where(RegisteredContract.employer_iin == employer_iin,
                                            RegisteredContract.worker_iin == worker_iin)
        .order_by(RegisteredContract.starts_on, RegisteredContract.id)).scalars())


def normalise_passport(number: str) -> str:
    return "".join(str(number).split()).upper()


# --- changes (administrators; each one audited) ---------------------------------------------

def set_quota(region: str, year: int, units: int, *, actor: str, regions: Iterable[str]) -> bool:
    """Set a region's quota for a year. Returns False when it already had this value."""
    region = _region(region, regions)
    year = _year(year)
    units = _whole(units, "quota units", minimum=0)
    return _set(Quota, {"region": region, "year": year}, "units", units, actor, "quota")


def set_mci(year: int, amount_kzt: int, *, actor: str) -> bool:
    return _set(Mci, {"year": _year(year)}, "amount_kzt",
                _whole(amount_kzt, "MCI (KZT)", minimum=1), actor, "mci")


def set_tax_rate(year: int, rate_mci_per_month: Any, *, actor: str) -> bool:
    return _set(TaxRate, {"year": _year(year)}, "rate_mci_per_month",
                _positive_decimal(rate_mci_per_month, "tax rate (MCI per month)"), actor, "tax_rate")


def set_regional_coefficient(region: str, coefficient: Any, *, actor: str,
                             regions: Iterable[str]) -> bool:
    return _set(RegionalCoefficient, {"region": _region(region, regions)}, "coefficient",
                _positive_decimal(coefficient, "regional coefficient"), actor, "regional_coefficient")


def add_citizenship(code: str, *, actor: str) -> bool:
    code = _country(code)
    if db.session.get(EligibleCitizenship, code) is not None:
        return False
    db.session.add(EligibleCitizenship(code=code, updated_at=clock.now(), updated_by=actor))
    audit.record(CHANGED, actor=actor, details={"table": "eligible_citizenship", "action": "added",
                                                "key": {"code": code}})
    return True


def remove_citizenship(code: str, *, actor: str) -> bool:
    row = db.session.get(EligibleCitizenship, _country(code))
    if row is None:
        return False
    db.session.delete(row)
    audit.record(CHANGED, actor=actor, details={"table": "eligible_citizenship", "action": "removed",
                                                "key": {"code": row.code}})
    return True


def add_police_entry(list_name: str, *, iin: str | None = None, passport_no: str | None = None,
                     reason: str | None = None, actor: str) -> tuple[PoliceListEntry, bool]:
    """Put a person on the watch or silent list; (entry, False) when already there."""
    if list_name not in POLICE_LISTS:
        raise ValueError(f"list must be one of {POLICE_LISTS}, not {list_name!r}")
    if not iin and not passport_no:
        raise ValueError("name the person by IIN or passport number")
    if iin:
        problems = iin_problems(iin)
        if problems:
            raise ValueError("; ".join(problems))
    if list_name == SILENT and not iin:
        raise ValueError("the silent list is kept by IIN")
    if list_name == WATCH and not (reason or "").strip():
        raise ValueError("a watch-list entry needs the reason the police would give")
    passport_no = normalise_passport(passport_no) if passport_no else None
    existing = db.session.execute(sa.select(PoliceListEntry).filter_by(
        list_name=list_name, iin=iin or None, passport_no=passport_no)).scalars().first()
    if existing is not None:
        return existing, False
    entry = PoliceListEntry(list_name=list_name, iin=iin or None, passport_no=passport_no,
                            reason=(reason or "").strip() or None, updated_at=clock.now(),
                            updated_by=actor)
    db.session.add(entry)
    db.session.flush()
    audit.record(CHANGED, actor=actor, details={"table": f"police_{list_name}", "action": "added",
                                                **entry.as_dict(masked=True)})
    return entry, True


def remove_police_entry(entry_id: int, *, actor: str) -> PoliceListEntry:
    entry = db.session.get(PoliceListEntry, int(entry_id))
    if entry is None:
        raise LookupError(f"no police list entry {entry_id}")
    db.session.delete(entry)
    audit.record(CHANGED, actor=actor, details={"table": f"police_{entry.list_name}",
                                                "action": "removed", **entry.as_dict(masked=True)})
    return entry


def add_contract(number: str, *, employer_iin: str, worker_iin: str, starts_on: Any,
                 ends_on: Any = None, registered_on: Any = None, actor: str) -> tuple[RegisteredContract, bool]:
    """Register a contract with the ЕСУТД simulator; (contract, False) when the number exists."""
    number = str(number or "").strip()
    if not number:
        raise ValueError("a contract needs its number")
    for who, iin in (("employer", employer_iin), ("worker", worker_iin)):
        problems = iin_problems(iin)
        if problems:
            raise ValueError(f"{who} IIN: " + "; ".join(problems))
    starts_on = as_date(starts_on)
    ends_on = as_date(ends_on) if ends_on else None
    if ends_on is not None and ends_on < starts_on:
        raise ValueError("the contract ends before it starts")
    existing = db.session.execute(sa.select(RegisteredContract).filter_by(number=number)).scalar_one_or_none()
    if existing is not None:
        return existing, False
    contract = RegisteredContract(number=number, employer_iin=employer_iin, worker_iin=worker_iin,
                                  starts_on=starts_on, ends_on=ends_on,
                                  registered_on=as_date(registered_on) if registered_on else starts_on,
                                  updated_at=clock.now(), updated_by=actor)
    db.session.add(contract)
    audit.record(CHANGED, actor=actor, details={"table": "esutd_contract", "action": "added",
                                                **contract.as_dict(masked=True)})
    return contract, True


def terminate_contract(number: str, on: Any, *, actor: str) -> RegisteredContract:
    contract = _contract(number)
    old = contract.terminated_on
    contract.terminated_on = as_date(on)
    contract.updated_at, contract.updated_by = clock.now(), actor
    audit.record(CHANGED, actor=actor, details={
        "table": "esutd_contract", "action": "terminated", "key": {"number": contract.number},
        "old": old.isoformat() if old else None, "new": contract.terminated_on.isoformat()})
    return contract


def remove_contract(number: str, *, actor: str) -> RegisteredContract:
    contract = _contract(number)
    db.session.delete(contract)
    audit.record(CHANGED, actor=actor, details={"table": "esutd_contract", "action": "removed",
                                                **contract.as_dict(masked=True)})
    return contract


def load(data: Mapping[str, Any], *, actor: str, regions: Iterable[str]) -> int:
    """Apply a reference data set; returns how many values changed. Nothing is removed.

        {"quota": {"ALA": {"2026": 5000}, "*": {"2026": 1000}},
         "mci": {"2026": 4325}, "tax_rate": {"2026": 4},
         "regional_coefficient": {"*": 1.0},
         "eligible_citizenship": ["UZ", "TJ"],
         "police_watch": [{"iin": "...", "passport_no": "...", "reason": "..."}],
         "police_silent": [{"iin": "..."}],
         "esutd_contract": [{"number": "...", "employer_iin": "...", "worker_iin": "...",
                             "starts_on": "2026-01-01", "ends_on": null}]}
    """
    regions = list(regions)
    unknown = set(data) - {"quota", "mci", "tax_rate", "regional_coefficient",
                           "eligible_citizenship", "police_watch", "police_silent", "esutd_contract"}
    if unknown:
        raise ValueError(f"unknown reference tables {sorted(unknown)}")
    changed = 0
    for region, years in _per_region(data.get("quota") or {}, regions).items():
        for year, units in years.items():
            changed += set_quota(region, year, units, actor=actor, regions=regions)
    for year, amount in (data.get("mci") or {}).items():
        changed += set_mci(year, amount, actor=actor)
    for year, rate in (data.get("tax_rate") or {}).items():
        changed += set_tax_rate(year, rate, actor=actor)
    for region, value in _per_region(data.get("regional_coefficient") or {}, regions).items():
        changed += set_regional_coefficient(region, value, actor=actor, regions=regions)
    for code in data.get("eligible_citizenship") or []:
        changed += add_citizenship(code, actor=actor)
    for list_name in POLICE_LISTS:
        for item in data.get(f"police_{list_name}") or []:
            changed += add_police_entry(list_name, iin=item.get("iin"),
                                        passport_no=item.get("passport_no"),
                                        reason=item.get("reason"), actor=actor)[1]
    for item in data.get("esutd_contract") or []:
        changed += add_contract(item["number"], employer_iin=item["employer_iin"],
                                worker_iin=item["worker_iin"], starts_on=item["starts_on"],
                                ends_on=item.get("ends_on"), registered_on=item.get("registered_on"),
                                actor=actor)[1]
    return changed


def snapshot(masked: bool = True) -> dict:
    """Everything loaded, in `load`'s shape (IINs and passports masked unless asked otherwise)."""
    session = db.session
    quota: dict[str, dict[str, int]] = {}
    for row in session.execute(sa.select(Quota).order_by(Quota.region, Quota.year)).scalars():
        quota.setdefault(row.region, {})[str(row.year)] = row.units
    return {
        "quota": quota,
        "mci": {str(r.year): r.amount_kzt for r in session.execute(
            sa.select(Mci).order_by(Mci.year)).scalars()},
        "tax_rate": {str(r.year): _plain(r.rate_mci_per_month) for r in session.execute(
            sa.select(TaxRate).order_by(TaxRate.year)).scalars()},
        "regional_coefficient": {r.region: _plain(r.coefficient) for r in session.execute(
            sa.select(RegionalCoefficient).order_by(RegionalCoefficient.region)).scalars()},
        "eligible_citizenship": list(session.execute(
            sa.select(EligibleCitizenship.code).order_by(EligibleCitizenship.code)).scalars()),
        **{f"police_{name}": [e.as_dict(masked=masked) for e in session.execute(
            sa.select(PoliceListEntry).filter_by(list_name=name).order_by(PoliceListEntry.id)).scalars()]
           for name in POLICE_LISTS},
        "esutd_contract": [c.as_dict(masked=masked) for c in session.execute(
            sa.select(RegisteredContract).order_by(RegisteredContract.number)).scalars()],
    }


# --- helpers --------------------------------------------------------------------------------

def _set(model, key: dict, field: str, value: Any, actor: str, table: str) -> bool:
    row = db.session.get(model, tuple(key.values()) if len(key) > 1 else next(iter(key.values())))
    old = getattr(row, field) if row is not None else None
    if row is not None and old == value:
        return False
    if row is None:
        row = model(**key)
        db.session.add(row)
    setattr(row, field, value)
    row.updated_at, row.updated_by = clock.now(), actor
    audit.record(CHANGED, actor=actor, details={"table": table, "key": key,
                                                "old": _jsonable(old), "new": _jsonable(value)})
    return True


def _contract(number: str) -> RegisteredContract:
    contract = db.session.execute(sa.select(RegisteredContract)
                                  .filter_by(number=str(number).strip())).scalar_one_or_none()
    if contract is None:
        raise LookupError(f"no registered contract {number}")
    return contract


def _per_region(values: Mapping[str, Any], regions: list[str]) -> dict[str, Any]:
    named = {k: v for k, v in values.items() if k != ALL_REGIONS}
    if ALL_REGIONS in values:
        for region in regions:
            named.setdefault(region, values[ALL_REGIONS])
    return named


def _region(region: str, regions: Iterable[str]) -> str:
    region = str(region or "").strip().upper()
    if region not in set(regions):
        raise ValueError(f"unknown region {region!r} (configure REGIONS)")
    return region


def _year(year: Any) -> int:
    year = _whole(year, "year", minimum=2000)
    if year > 2100:
        raise ValueError(f"year {year} is not plausible")
    return year


def _whole(value: Any, what: str, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a whole number, not {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{what} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ValueError(f"{what} must be at least {minimum}, not {number}")
    return number


def _positive_decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{what} must be a number, not {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise ValueError(f"{what} must be above zero, not {value!r}")
    return number


def _country(code: str) -> str:
    code = str(code or "").strip().upper()
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        raise ValueError(f"a citizenship is an ISO 3166-1 alpha-2 code, not {code!r}")
    return code


def _plain(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- the fix an operator reads beside an incident caused by a figure not loaded --------------

def _register_incident_hints() -> None:
    from flask_babel import gettext  # read in the reader's language when the hint is shown

    from engine import incidents
    missing = "MissingReferenceData"
    incidents.register_hint(missing, r"quota for region (\w+) in (\d{4}) is not loaded", lambda m: gettext(
        "Load the %(year)s quota of region %(region)s: `flask reference set-quota %(region)s %(year)s UNITS` "
        "(or in the reference file loaded with `flask reference load`), then retry every case with this error.",
        year=m[2], region=m[1]))
    incidents.register_hint(missing, r"IIT prepayment rate \(MCI per month\) for (\d{4}) is not loaded", lambda m: gettext(
        "Load the %(year)s tax rate: `flask reference set-tax-rate %(year)s MCI_PER_MONTH`, then retry.", year=m[1]))
    incidents.register_hint(missing, r"MCI for (\d{4}) is not loaded", lambda m: gettext(
        "Load the %(year)s monthly calculation index: `flask reference set-mci %(year)s AMOUNT_KZT`, then retry.",
        year=m[1]))
    incidents.register_hint(missing, r"regional coefficient for region (\w+) is not loaded", lambda m: gettext(
        "Load region %(region)s's coefficient: `flask reference set-coefficient %(region)s COEFFICIENT`, then retry.",
        region=m[1]))
    incidents.register_hint(missing, r"no eligible citizenships are loaded", lambda m: gettext(
        "Load the eligible citizenships: `flask reference add-citizenship CODE` for each, then retry."))


_register_incident_hints()
