"""engine.db.Prepared: a statement run as its compiled text stores what Core's execute stores."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from engine.db import Prepared, UTCDateTime, db

# A table of the kinds of columns the engine's prepared statements write (text, integers, UTC
# timestamps, booleans, bytes), made and dropped inside each test's transaction.
_TABLE = sa.Table(
    "prepared_probe", sa.MetaData(),
    sa.Column("id", sa.String(36), primary_key=True), sa.Column("instance_id", sa.String(36)),
    sa.Column("definition_id", sa.Integer), sa.Column("name", sa.String(300)),
    sa.Column("due_at", UTCDateTime), sa.Column("status", sa.String(20), nullable=False),
    sa.Column("escalated", sa.Boolean, nullable=False), sa.Column("state", sa.LargeBinary),
    sa.Column("completed_at", UTCDateTime), sa.Column("completed_by", sa.String(200)))
AT = datetime(2026, 11, 29, 5, 30, 1, 123456, tzinfo=timezone(timedelta(hours=5)))


def _row(task_id, **changes):
    row = dict(id=task_id, instance_id="i-1", definition_id=1, name="Review ü", due_at=AT,
               status="ready", escalated=True, state=b"\x1f\x8b\x00", completed_at=None, completed_by=None)
    row.update(changes)
    return row


def _stored(task_id):
    return db.session.execute(sa.select(_TABLE).where(_TABLE.c.id == task_id)).mappings().one()


def test_rows_inserted_and_updated_as_prepared_text_read_back_as_cores(app):
    conn = db.session.connection()
    _TABLE.create(conn)
    conn.execute(_TABLE.insert(), _row("core-1"))
    Prepared(_TABLE.insert()).execute(conn, _row("prep-1"))
    # Several rows at once (executemany), in another column order.
    Prepared(_TABLE.insert()).execute(conn, [dict(reversed(_row(f"prep-{n}").items())) for n in (2, 3)])
    core, prepared = dict(_stored("core-1")), dict(_stored("prep-1"))
    assert prepared.pop("id") == "prep-1" and core.pop("id") == "core-1"
    assert prepared == core
    assert prepared["due_at"] == AT and prepared["due_at"].tzinfo is not None  # stored in UTC, read aware
    assert prepared["escalated"] is True and prepared["state"] == b"\x1f\x8b\x00"
    assert dict(_stored("prep-3"), id="prep-1") == dict(_stored("prep-1"))

    # A fixed value in the statement (status == 'ready') is kept; only matching rows change.
    close = Prepared(_TABLE.update().where(_TABLE.c.id == sa.bindparam("task_id"), _TABLE.c.status == "ready")
                     .values(status=sa.bindparam("new_status"), completed_at=sa.bindparam("at")))
    assert close.execute(conn, {"task_id": "prep-1", "new_status": "completed", "at": AT}).rowcount == 1
    assert close.execute(conn, {"task_id": "prep-1", "new_status": "cancelled", "at": AT}).rowcount == 0
    assert _stored("prep-1")["status"] == "completed" and _stored("prep-1")["completed_at"] == AT
    db.session.rollback()


def test_a_value_the_statement_needs_must_be_given(app):
    conn = db.session.connection()
    _TABLE.create(conn)
    close = Prepared(_TABLE.update().where(_TABLE.c.id == sa.bindparam("task_id"))
                     .values(status=sa.bindparam("new_status")))
    with pytest.raises(KeyError):
        close.execute(conn, {"task_id": "x"})  # never a silent NULL
    db.session.rollback()


def test_prepared_statements_are_seen_by_statement_counts(app):
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    _TABLE.create(db.session.connection())
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        version = Prepared(sa.select(_TABLE.c.status).where(_TABLE.c.id == sa.bindparam("task_id")))
        assert version.execute(db.session.connection(), {"task_id": "none"}).scalar() is None
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(seen) == 1 and seen[0].startswith("SELECT")
    db.session.rollback()


def test_a_refused_statement_raises_sqlalchemys_error_and_the_transaction_goes_on(app):
    conn = db.session.connection()
    _TABLE.create(conn)
    insert = Prepared(_TABLE.insert())
    insert.execute(conn, _row("dup-1"))
    with pytest.raises(sa.exc.IntegrityError):
        with db.session.begin_nested():  # PostgreSQL needs the savepoint to go on
            insert.execute(db.session.connection(), _row("dup-1"))  # the same id twice
    read = Prepared(sa.select(_TABLE.c.status).where(_TABLE.c.id == sa.bindparam("task_id")))
    assert read.execute(conn, {"task_id": "dup-1"}).scalar() == "ready"
    assert read.execute(conn, {"task_id": "none"}).scalar() is None
    db.session.rollback()
