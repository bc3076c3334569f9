"""The audit log archived by month: files with a recorded SHA-256, the only delete the triggers allow."""
import gzip
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from engine import audit, audit_archive
from engine.db import db
from engine.exceptions import InvalidData

MAY = datetime(2026, 5, 20, 6, 0, tzinfo=timezone.utc)
JUNE = datetime(2026, 6, 3, 6, 0, tzinfo=timezone.utc)
JULY = datetime(2026, 7, 2, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def events(app, tmp_path):
    app.config["AUDIT_ARCHIVE_DIR"] = str(tmp_path / "archive")
    for at, instance, event in [(MAY, "case-1", "instance_started"), (MAY, "case-2", "instance_started"),
                                (MAY, "case-1", "task_completed"), (JUNE, "case-1", "instance_completed")]:
        with time_machine.travel(at, tick=False):
            audit.record(event, actor="aigul", instance_id=instance, details={"note": f"{event} «{instance}»"})
    db.session.commit()
    with time_machine.travel(JULY, tick=False):
        yield app


def in_table():
    return [(e.instance_id, e.event) for e in db.session.execute(
        sa.select(audit.AuditEvent).where(audit.AuditEvent.event != "audit_archived")
        .order_by(audit.AuditEvent.id)).scalars()]


def test_a_month_goes_to_a_file_with_its_hash_recorded_and_leaves_the_table(events, tmp_path):
    before = [e.as_dict() for e in audit.trail("case-1")]
    result = events.test_cli_runner().invoke(args=["retention", "archive-audit", "--before", "2026-06"])
    assert result.exit_code == 0, result.output
    assert "2026-05: 3 events" in result.output
    assert in_table() == [("case-1", "instance_completed")]  # June stays
    record = db.session.execute(sa.select(audit_archive.AuditArchive)).scalar_one()
    path = Path(events.config["AUDIT_ARCHIVE_DIR"]) / record.file
    assert (record.month, record.rows) == ("2026-05", 3)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == record.sha256
    lines = [json.loads(line) for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
    assert [(e["instance_id"], e["event"]) for e in lines] == [("case-1", "instance_started"),
                                                               ("case-2", "instance_started"),
                                                               ("case-1", "task_completed")]
    assert lines[0]["details"] == {"note": "instance_started «case-1»"}
    # The archiving is itself audited, and the archived events read back as they were.
    archived = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="audit_archived")).scalar_one()
    assert archived.details["sha256"] == record.sha256 and archived.details["rows"] == 3
    back = audit_archive.read("case-1")
    assert back == [dict(e, at=e["at"]) for e in before[:2]]
    trail = events.test_cli_runner().invoke(args=["retention", "audit-trail", "case-1"])
    assert trail.exit_code == 0 and len(trail.output.splitlines()) == 2 and "task_completed" in trail.output
    # Nothing left to archive before June: a second run changes nothing.
    again = events.test_cli_runner().invoke(args=["retention", "archive-audit", "--before", "2026-06"])
    assert again.exit_code == 0 and "no audit events before 2026-06" in again.output


def test_the_triggers_still_refuse_to_delete_or_change_an_event_no_archive_holds(events):
    audit_archive.archive("2026-05")
    table = audit.AuditEvent.__table__
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(sa.delete(table).where(table.c.event == "instance_completed"))
    db.session.rollback()
    with pytest.raises(Exception, match="append-only"):
        db.session.execute(sa.update(table).values(actor="someone else"))
    db.session.rollback()
    assert in_table() == [("case-1", "instance_completed")]


def test_a_bad_or_unfinished_month_is_refused_and_nothing_changes(events):
    result = events.test_cli_runner().invoke(args=["retention", "archive-audit", "--before", "2026-13"])
    assert result.exit_code == 2 and "--before" in result.output and "YYYY-MM" in result.output
    with pytest.raises(InvalidData, match="has ended") as err:
        audit_archive.archive("2026-07")
    assert err.value.errors == {"month": ["2026-07 has not ended yet"]}
    assert len(in_table()) == 4
    assert db.session.execute(sa.select(sa.func.count()).select_from(audit_archive.AuditArchive)).scalar() == 0


def test_a_damaged_archive_is_reported_not_read(events):
    record = audit_archive.archive("2026-05")
    path = Path(events.config["AUDIT_ARCHIVE_DIR"]) / record.file
    path.write_bytes(gzip.compress(b'{"instance_id": "case-1", "event": "forged"}\n'))
    with pytest.raises(audit_archive.ArchiveDamaged, match=record.file):
        audit_archive.read("case-1")
