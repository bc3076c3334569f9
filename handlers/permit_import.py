"""Permits issued before this system: brought into the register from a CSV or JSON file.

The fingerprint waiver (a permit issued in the previous calendar year), extensions and the
quota all read the register, so permits issued elsewhere must be in it. Each record names:

    number, region, holder_iin, holder_surname, holder_given_name, [holder_patronymic],
    [holder_citizenship], employer_iin, employer_name, valid_from, valid_to, months, issued_on

(dates YYYY-MM-DD; `months` the whole months from `valid_from` to `valid_to`, extensions
included). A CSV file has these as its header; a JSON file is a list of such objects.

`plan` checks every record and changes nothing: a record is `new`, `unchanged` (already in
the register with the same data: importing again is harmless) or `refused` with its reasons
(malformed; a number repeated in the file; a number in the register with other data; a holder
who already holds another permit over the same days). `apply` writes the new ones only when no
record is refused, in one transaction, audited: each permit with an `imported` history event
and, while it is still valid, the quota unit it takes (the year of `valid_from`). A permit
whose last day has passed comes in `expired`. The validity watches of the imported active
permits are started by `validity.start_missing_watches` (the `flask permits backfill-watches`
command, which `flask permits import --apply` runs too).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine import audit, clock

from . import permits, quota
from .durations import valid_to as period_end
from .identity import iin_problems, mask_iin

NEW, UNCHANGED, REFUSED = "new", "unchanged", "refused"
IMPORTED = "imported"
REQUIRED = ("number", "region", "holder_iin", "holder_surname", "holder_given_name", "employer_iin",
            "employer_name", "valid_from", "valid_to", "months", "issued_on")
OPTIONAL = ("holder_patronymic", "holder_citizenship")
FIELDS = REQUIRED + OPTIONAL
MAX_RECORDS = 100_000
_NUMBER = re.compile(r"^([A-Z]{3})-([0-9]{4})-([0-9]{1,10})$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CITIZENSHIP = re.compile(r"^[A-Z]{2}$")
# What must agree for a record to count as the permit the register already holds.
_COMPARED = ("region", "holder_iin", "employer_iin", "valid_from", "valid_to", "issued_on")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not CSV or JSON of records, too many records)."""


@dataclass
class Record:
    """One record of the file and what the import makes of it."""

    row: int  # 1-based, the header of a CSV file not counted
    raw: dict
    action: str = NEW
    reasons: list = field(default_factory=list)
    values: dict = field(default_factory=dict)
    status: str | None = None  # active or expired, once valid

    @property
    def number(self) -> str | None:
        return self.values.get("number") or (str(self.raw.get("number") or "").strip() or None)

    def refuse(self, reason: str) -> None:
        self.action = REFUSED
        self.reasons.append(reason)

    def as_dict(self) -> dict:
        return {"row": self.row, "number": self.number, "action": self.action, "status": self.status,
                "reasons": list(self.reasons)}


def read(text: str, fmt: str) -> list[Record]:
    """The records of a file's text; `fmt` is "csv" or "json"."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as err:
            raise ImportFileError(f"not JSON: {err}") from None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ImportFileError("a JSON file of permits is a list of objects, one per permit")
        rows = data
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [name for name in REQUIRED if name not in header]
        if missing:
            raise ImportFileError(f"the CSV header lacks {', '.join(missing)} (it has {', '.join(header) or 'nothing'})")
        reader.fieldnames = header
        rows = [{k: v for k, v in row.items() if k is not None} for row in reader]
    else:
        raise ImportFileError(f"unknown format {fmt!r}: csv or json")
    if len(rows) > MAX_RECORDS:
        raise ImportFileError(f"{len(rows)} records; import at most {MAX_RECORDS} per file")
    return [Record(row=i, raw=row) for i, row in enumerate(rows, start=1)]


def plan(records: list[Record], session, config: Mapping[str, Any], now: datetime) -> list[Record]:
    """Check every record against the law's formats, the file and the register; change nothing."""
    tz = clock.local_zone(config)
    today = now.astimezone(tz).date()
    seen: dict[str, int] = {}
    held: dict[str, list[tuple[date, date, str]]] = {}  # holder -> active periods of new records
    for record in records:
        _check_fields(record, config, today)
        if record.action == REFUSED:
            continue
        v = record.values
        record.status = permits.ACTIVE if now < _end_of(v["valid_to"], tz) else permits.EXPIRED
        first = seen.setdefault(v["number"], record.row)
        if first != record.row:
            record.refuse(f"number {v['number']} repeats the number of row {first}")
            continue
        existing = permits.get_permit(v["number"], session)
        if existing is not None:
            differing = [name for name in _COMPARED if _register_value(existing, name) != v[name]]
            if differing:
                record.refuse(f"permit {v['number']} is already in the register with other data ("
                              + "; ".join(f"{name}: register {_shown(name, _register_value(existing, name))}, "
                                          f"file {_shown(name, v[name])}" for name in differing) + ")")
            else:
                record.action = UNCHANGED
            continue
        if record.status == permits.ACTIVE:
            clash = _overlapping(session, v, held.get(v["holder_iin"], []))
            if clash:
                record.refuse(f"the holder (IIN {mask_iin(v['holder_iin'])}) already holds permit {clash[2]} "
                              f"valid {clash[0]:%d.%m.%Y}–{clash[1]:%d.%m.%Y}, over the same days")
                continue
            held.setdefault(v["holder_iin"], []).append((v["valid_from"], v["valid_to"], v["number"]))
    return records


def apply(records: list[Record], session, config: Mapping[str, Any], now: datetime, *, actor: str,
          source: str, digest: str) -> dict:
    """Write the new records (none when any is refused), audited, in the caller's transaction."""
    refused = [r for r in records if r.action == REFUSED]
    if refused:
        raise ValueError(f"{len(refused)} record(s) refused: nothing is imported until the file is corrected")
    batch = str(uuid.uuid4())
    tz = clock.local_zone(config)
    new = [r for r in records if r.action == NEW]
    for record in new:
        _write(session, record, batch, tz, now, actor, source)
    summary = summarize(records)
    audit.record("permits_imported", actor=actor, details={
        "batch": batch, "source": source, "sha256": digest, **{k: summary[k] for k in (NEW, UNCHANGED)},
        "active": sum(1 for r in new if r.status == permits.ACTIVE)})  # each permit's event names the batch
    session.flush()
    return {**summary, "batch": batch}


def summarize(records: list[Record]) -> dict:
    counts = {NEW: 0, UNCHANGED: 0, REFUSED: 0}
    for record in records:
        counts[record.action] += 1
    return {**counts, "records": len(records)}


def file_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- helpers ----------------------------------------------------------------------------------

def _check_fields(record: Record, config, today: date) -> None:
    raw = record.raw
    unknown = sorted(k for k in raw if k not in FIELDS)
    if unknown:
        record.refuse(f"unknown field(s) {', '.join(map(str, unknown))}")
    text = {name: _text(raw.get(name)) for name in FIELDS}
    missing = [name for name in REQUIRED if not text[name]]
    for name in missing:
        record.refuse(f"{name} is missing")
    if missing:
        return
    v = record.values
    number = _NUMBER.match(text["number"])
    if not number:
        record.refuse(f"number {text['number']!r} is not <REGION>-<YEAR>-<SEQUENCE>, e.g. AST-2025-000042")
    region = text["region"].upper()
    if region not in config["REGIONS"]:
        record.refuse(f"region {text['region']!r} is not a known region code")
    for who in ("holder_iin", "employer_iin"):
        problems = iin_problems(text[who])
        if problems:
            record.refuse(f"{who} {mask_iin(text[who])}: {'; '.join(problems)}")
    for name in ("holder_surname", "holder_given_name", "holder_patronymic", "employer_name"):
        limit = 400 if name == "employer_name" else 200
        if len(text[name]) > limit or any(ord(c) < 32 for c in text[name]):
            record.refuse(f"{name} is longer than {limit} characters or holds control characters")
    citizenship = text["holder_citizenship"].upper()
    if citizenship and not _CITIZENSHIP.match(citizenship):
        record.refuse(f"holder_citizenship {text['holder_citizenship']!r} is not a two-letter country code")
    dates = {}
    for name in ("valid_from", "valid_to", "issued_on"):
        dates[name] = _date(text[name])
        if dates[name] is None:
            record.refuse(f"{name} {text[name]!r} is not a date YYYY-MM-DD")
    months = _whole(raw.get("months"))
    lowest, highest = int(config["PERMIT_MIN_MONTHS"]), int(config["MAX_TOTAL_MONTHS"])
    if months is None or not lowest <= months <= highest:
        record.refuse(f"months {raw.get('months')!r} is not a whole number from {lowest} to {highest}")
    if None in dates.values() or months is None or not lowest <= months <= highest:
        return  # the checks below compare the dates and the months
    start, end, issued = dates["valid_from"], dates["valid_to"], dates["issued_on"]
    expected = period_end(start, months)
    if end != expected:
        record.refuse(f"valid_to {end:%d.%m.%Y} is not {months} month(s) from {start:%d.%m.%Y}: "
                      f"that period ends {expected:%d.%m.%Y}")
    if issued > today:
        record.refuse(f"issued_on {issued:%d.%m.%Y} is in the future")
    if issued > end:
        record.refuse(f"issued_on {issued:%d.%m.%Y} is after the last day of validity {end:%d.%m.%Y}")
    if number and (number.group(1), int(number.group(2))) != (region, start.year):
        record.refuse(f"number {text['number']} names {number.group(1)} {number.group(2)}, but the permit is of "
                      f"{region} and its quota year (the year of valid_from) is {start.year}")
    if record.action == REFUSED:
        return
    v.update(number=text["number"], region=region, year=start.year, sequence=int(number.group(3)),
             holder_iin=text["holder_iin"], holder_surname=text["holder_surname"],
             holder_given_name=text["holder_given_name"], holder_patronymic=text["holder_patronymic"] or None,
             holder_citizenship=citizenship or None, employer_iin=text["employer_iin"],
             employer_name=text["employer_name"], valid_from=start, valid_to=end, months=months, issued_on=issued)


def _overlapping(session, v, in_file) -> tuple | None:
    for start, end, number in in_file:
        if start <= v["valid_to"] and v["valid_from"] <= end:
            return start, end, number
    found = session.execute(sa.select(permits.Permit).where(
        permits.Permit.holder_iin == v["holder_iin"], permits.Permit.status == permits.ACTIVE,
        permits.Permit.valid_from <= v["valid_to"], permits.Permit.valid_to >= v["valid_from"])
        .limit(1)).scalar_one_or_none()
    return (found.valid_from, found.valid_to, found.number) if found is not None else None


def _write(session, record: Record, batch: str, tz, now: datetime, actor: str, source: str) -> None:
    v = record.values
    issued_at = datetime.combine(v["issued_on"], time(0), tz)
    active = record.status == permits.ACTIVE
    permit = permits.Permit(
        number=v["number"], region=v["region"], year=v["year"], sequence=v["sequence"], status=record.status,
        holder_iin=v["holder_iin"], holder_surname=v["holder_surname"], holder_given_name=v["holder_given_name"],
        holder_patronymic=v["holder_patronymic"], holder_citizenship=v["holder_citizenship"],
        employer_iin=v["employer_iin"], employer_name=v["employer_name"], valid_from=v["valid_from"],
        valid_to=v["valid_to"], issued_on=v["issued_on"], issued_at=issued_at, issued_by_case=batch,
        updated_at=now, ended_at=None if active else _end_of(v["valid_to"], tz))
    session.add(permit)
    session.flush()
    session.add(permits.PermitEvent(permit_id=permit.id, event=IMPORTED, at=now, instance_id=None, actor=actor,
                                    details={"batch": batch, "source": source, "row": record.row,
                                             "status": record.status, "months": v["months"],
                                             "quota_unit_taken": active}))
    if active:
        # A valid permit uses its region's quota for its year, as one issued here does.
        session.add(quota.QuotaUnit(region=v["region"], year=v["year"], instance_id=batch,
                                    permit_number=v["number"], status=quota.TAKEN, held_at=now, taken_at=now))
        quota.count(session, v["region"], v["year"], taken=1)
    _advance_sequence(session, v["region"], v["year"], v["sequence"])


def _advance_sequence(session, region: str, year: int, sequence: int) -> None:
    """Numbers given here later must not repeat an imported one."""
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[session.get_bind().dialect.name]
    session.execute(insert(permits.PermitSequence).values(region=region, year=year, last_value=sequence)
                    .on_conflict_do_nothing())
    session.execute(sa.update(permits.PermitSequence)
                    .where(permits.PermitSequence.region == region, permits.PermitSequence.year == year,
                           permits.PermitSequence.last_value < sequence)
                    .values(last_value=sequence).execution_options(synchronize_session=False))


def _register_value(permit, name):
    return getattr(permit, name)


def _shown(name, value):
    if name.endswith("_iin"):
        return mask_iin(str(value))
    return value.strftime("%d.%m.%Y") if isinstance(value, date) else value


def _end_of(last_day: date, tz) -> datetime:
    """The instant a permit stops being valid: midnight after its last day, local time."""
    return datetime.combine(last_day + timedelta(days=1), time(0), tz)


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _date(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _whole(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
