"""The audit log archived by month: a month's events leave the working table for a file.

`archive(month)` writes every event of that calendar month (UTC) still in `audit_event` to
AUDIT_ARCHIVE_DIR/audit-<month>-<first id>-<last id>.jsonl.gz (one JSON object per line, in id
order), flushed to disk, then in one transaction records the file's SHA-256 and row count in
`audit_archive` and deletes those rows. The table's triggers (migration 0018) refuse every
update and every delete except of a row a recorded archive holds, so this is the only way out.
A crash before the commit leaves the rows in place (a later run writes the file again).

`read(instance_id)` reads an instance's archived events back, checking each file's hash.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from . import audit, clock
from .db import UTCDateTime, db
from .exceptions import InvalidData

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class AuditArchive(db.Model):
    __tablename__ = "audit_archive"
    __table_args__ = (sa.Index("ix_audit_archive_month", "month"),)

    id = sa.Column(sa.Integer, primary_key=True)
    month = sa.Column(sa.String(7), nullable=False)
    starts_at = sa.Column(UTCDateTime, nullable=False)
    ends_at = sa.Column(UTCDateTime, nullable=False)
    first_id = sa.Column(sa.BigInteger, nullable=False)
    last_id = sa.Column(sa.BigInteger, nullable=False)
    rows = sa.Column(sa.Integer, nullable=False)
    file = sa.Column(sa.String(500), nullable=False)
    sha256 = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False)
    created_by = sa.Column(sa.String(200), nullable=False)


class ArchiveDamaged(Exception):
    """An archive file is missing or its content no longer has its recorded hash."""


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month in UTC; a month not written YYYY-MM is refused."""
    found = MONTH.match(month or "")
    if not found:
        raise InvalidData("month must be YYYY-MM", {"month": ["must be YYYY-MM, e.g. 2026-05"]})
    year, number = int(found.group(1)), int(found.group(2))
    start = datetime(year, number, 1, tzinfo=timezone.utc)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=timezone.utc)
    return start, end


def months_before(before: str) -> list[str]:
    """The months that still have events in the table, before `before` (YYYY-MM), oldest first."""
    cutoff, _ = month_bounds(before)
    today = clock.now()
    cutoff = min(cutoff, datetime(today.year, today.month, 1, tzinfo=timezone.utc))  # only ended months
    oldest = db.session.execute(sa.select(sa.func.min(audit.AuditEvent.at))
                                .where(audit.AuditEvent.at < cutoff)).scalar()
    if oldest is None:
        return []
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)
    months, year, number = [], oldest.year, oldest.month
    while datetime(year, number, 1, tzinfo=timezone.utc) < cutoff:
        months.append(f"{year:04d}-{number:02d}")
        year, number = year + (number == 12), number % 12 + 1
    return months


def archive(month: str, actor: str = "retention") -> AuditArchive | None:
    """Archive the month's events still in the table (None when it has none); commits."""
    start, end = month_bounds(month)
    if end > clock.now():
        raise InvalidData("only a month that has ended can be archived",
                          {"month": [f"{month} has not ended yet"]})
    table = audit.AuditEvent.__table__
    in_month = sa.and_(table.c.at >= start, table.c.at < end)
    last_id = db.session.execute(sa.select(sa.func.max(table.c.id)).where(in_month)).scalar()
    if last_id is None:
        db.session.rollback()
        return None
    first_id = db.session.execute(sa.select(sa.func.min(table.c.id)).where(in_month)).scalar()
    directory = Path(current_app.config["AUDIT_ARCHIVE_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    name = f"audit-{month}-{first_id}-{last_id}.jsonl.gz"
    rows = _write(directory / name, in_month, first_id, last_id)
    digest = _sha256(directory / name)
    record = AuditArchive(month=month, starts_at=start, ends_at=end, first_id=first_id, last_id=last_id,
                          rows=rows, file=name, sha256=digest, created_at=clock.now(), created_by=actor)
    db.session.add(record)
    db.session.flush()  # the triggers now allow deleting exactly these rows
    deleted = db.session.execute(sa.delete(table).where(in_month, table.c.id.between(first_id, last_id))).rowcount
    if deleted != rows:
        db.session.rollback()
        raise RuntimeError(f"audit archive {name}: wrote {rows} events but {deleted} would be deleted")
    audit.record("audit_archived", actor=actor, details={"month": month, "file": name, "sha256": digest,
                                                         "rows": rows, "first_id": first_id, "last_id": last_id})
    db.session.commit()
    return record


def _write(path: Path, in_month, first_id: int, last_id: int, batch: int = 5000) -> int:
    table = audit.AuditEvent.__table__
    temporary = path.with_suffix(".partial")
    count, after = 0, first_id - 1
    with open(temporary, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            while True:
                chunk = db.session.execute(
                    sa.select(table).where(in_month, table.c.id > after, table.c.id <= last_id)
                    .order_by(table.c.id).limit(batch)).all()
                if not chunk:
                    break
                for row in chunk:
                    event = dict(row._mapping)
                    event["at"] = event["at"].isoformat()
                    out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
                count += len(chunk)
                after = chunk[-1].id
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(temporary, path)  # the file is whole before any row is deleted
    return count


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def archived_since(at: datetime) -> datetime | None:
    """The end of the newest archived month after `at`: events from `at` to it may be archived."""
    return db.session.execute(sa.select(sa.func.max(AuditArchive.ends_at))
                              .where(AuditArchive.ends_at > at)).scalar()


def read(instance_id: str, since: datetime | None = None) -> list[dict]:
    """An instance's archived events (from archives of months ending after `since`), each file's
    hash checked first."""
    query = sa.select(AuditArchive).order_by(AuditArchive.first_id)
    if since is not None:
        query = query.where(AuditArchive.ends_at > since)
    directory = Path(current_app.config["AUDIT_ARCHIVE_DIR"])
    events = []
    for record in db.session.execute(query).scalars():
        path = directory / record.file
        if not path.exists() or _sha256(path) != record.sha256:
            raise ArchiveDamaged(f"audit archive {record.file} is missing or does not match its recorded SHA-256")
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            events.extend(e for e in map(json.loads, lines) if e.get("instance_id") == instance_id)
    return events
