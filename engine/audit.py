"""The append-only audit log: who changed what, when, on which instance.

Events are only ever inserted: this module offers no update or delete, the ORM refuses to
flush one, and the database refuses them too (triggers from migration 0003_messages).

Events: definition_deployed; instance_started, instance_completed, instance_cancelled;
task_claimed, task_unclaimed, task_reassigned, task_completed (with the submitted data);
timer_fired, timer_cancelled; message_delivered, message_refused; incident_raised,
incident_retried. Each is recorded in the transaction of the change it records.
"""
from __future__ import annotations

import sqlalchemy as sa

from . import clock
from .db import Prepared, UTCDateTime, db, session_connection


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_instance_at", "instance_id", "id"),)

    id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    at = sa.Column(UTCDateTime, nullable=False)
    actor = sa.Column(sa.String(200), nullable=False)
    event = sa.Column(sa.String(64), nullable=False, index=True)
    instance_id = sa.Column(sa.String(36))
    task_id = sa.Column(sa.String(36))
    details = sa.Column(sa.JSON, nullable=False, default=dict)

    def as_dict(self):
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor, "event": self.event,
                "instance_id": self.instance_id, "task_id": self.task_id, "details": self.details}


class AppendOnly(Exception):
    """An attempt to change or delete an audit event."""


_TABLE = AuditEvent.__table__
# Prepared (engine.db.Prepared): two events are written by nearly every step, and Core's general
# execution path cost several times the database's own work for each. PostgreSQL returns the
# new id; SQLite gives it as the cursor's last row id.
_INSERT = Prepared(_TABLE.insert())
_INSERT_RETURNING = Prepared(_TABLE.insert().returning(_TABLE.c.id))


def record(event: str, *, actor: str, instance_id: str | None = None, task_id: str | None = None,
           details: dict | None = None) -> int:
    """Write an event in the current transaction: it commits or rolls back with the change it
    records. Returns the event's id.

    A prepared insert on the session's connection, not an ORM object: several events are
    written per step and the unit of work cost more than the step's engine work.
    """
    connection = session_connection()
    values = {"at": clock.now(), "actor": actor or "system", "event": event, "instance_id": instance_id,
              "task_id": task_id, "details": details or {}}
    if connection.dialect.name == "sqlite":
        return _INSERT.execute(connection, values).lastrowid
    return _INSERT_RETURNING.execute(connection, values).scalar_one()


def trail(instance_id: str) -> list[AuditEvent]:
    return list(db.session.execute(
        sa.select(AuditEvent).filter_by(instance_id=instance_id).order_by(AuditEvent.id)).scalars())


@sa.event.listens_for(AuditEvent, "before_update")
@sa.event.listens_for(AuditEvent, "before_delete")
def _refuse_change(mapper, connection, target):
    raise AppendOnly(f"audit event {target.id} cannot be changed or deleted: the audit log is append-only")
