"""Retention: what a finished case no longer needs leaves the working tables after its period.

- finished instances (completed, terminated) keep their final data and the path they took
  instead of SpiffWorkflow's whole task tree (engine/finished.py), RETENTION_COMPACT_AFTER_DAYS
  after they finished;
- message receipts (duplicate detection of client messages) after RETENTION_MESSAGE_RECEIPT_DAYS;
- correlation keys of finished instances after RETENTION_CORRELATION_KEY_DAYS;
- a compression dictionary for each process with finished or waiting states and none yet
  (engine/state_dictionary.py);
- the application's own sweepers (`@sweeper`): delivered notifications (a row of the same send
  that stays keeps the parameters they shared), answered police requests, each after its
  configured period.
The audit log is append-only by trigger: whole months of it older than
RETENTION_AUDIT_ARCHIVE_MONTHS (0: never by a run), or before `flask retention archive-audit
--before YYYY-MM`, move to files with a recorded SHA-256 (engine/audit_archive.py), the one
delete its triggers allow; `flask retention audit-trail ID` reads an instance's events back.
Each kind runs in batches of RETENTION_BATCH rows, one transaction per batch, so a run never
holds a long lock; `flask retention run` runs it once, the worker once a day.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Callable

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from . import audit, clock, definitions
from .db import db

_SWEEPERS: dict[str, Callable] = {}
FINISHED = ("completed", "terminated")


def sweeper(name: str):
    """Register `fn(session, now, config, limit) -> rows removed` as a retention sweeper."""
    def register(fn):
        _SWEEPERS[name] = fn
        return fn
    return register


def run(now=None, config=None) -> dict:
    """One retention pass; returns {kind: rows changed or removed}."""
    config = config if config is not None else current_app.config
    now = now or clock.now()
    limit = int(config["RETENTION_BATCH"])
    result = {"compacted": _batches(lambda: compact_finished(now - timedelta(days=config["RETENTION_COMPACT_AFTER_DAYS"]), limit)),
              "message_receipts": _batches(lambda: _delete_receipts(
                  now - timedelta(days=config["RETENTION_MESSAGE_RECEIPT_DAYS"]), limit)),
              "correlation_keys": _batches(lambda: _delete_correlation_keys(
                  now - timedelta(days=config["RETENTION_CORRELATION_KEY_DAYS"]), limit))}
    for name, fn in _SWEEPERS.items():
        result[name] = _batches(lambda fn=fn: fn(db.session, now, config, limit))
    from . import state_dictionary
    result["compression_dictionaries"] = state_dictionary.ensure()  # used from the next compaction on
    months = int(config["RETENTION_AUDIT_ARCHIVE_MONTHS"])
    if months > 0:
        result["audit_archived"] = archive_audit(_month_before(now, months))
    if any(result.values()):
        audit.record("retention_run", actor="retention", details=result)
        db.session.commit()
    return result


def _month_before(now, months: int) -> str:
    """YYYY-MM of the month `months` calendar months before `now`'s month (UTC)."""
    index = now.year * 12 + now.month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def archive_audit(before: str, actor: str = "retention") -> int:
    """Archive every month of the audit log before `before` (YYYY-MM); returns the events moved."""
    from .audit_archive import archive, months_before
    moved = 0
    for month in months_before(before):
        record = archive(month, actor=actor)
        moved += record.rows if record is not None else 0
    return moved


def _batches(one) -> int:
    total = 0
    while True:
        done = one()
        db.session.commit()
        total += done
        if not done:
            return total


def compact_finished(finished_before, limit: int) -> int:
    """Replace the task tree of up to `limit` instances finished before the cutoff by their path."""
    from .instances import ProcessInstance, current_data
    from .serializer import dump_finished, load_state
    rows = list(db.session.execute(
        sa.select(ProcessInstance).where(ProcessInstance.compacted_at.is_(None),
                                         ProcessInstance.status.in_(FINISHED),
                                         ProcessInstance.completed_at < finished_before)
        .limit(limit)).scalars())
    now = clock.now()
    for row in rows:
        spec, subprocess_specs = definitions.spec_by_id(row.definition_id)
        workflow = load_state(row.state, spec, subprocess_specs, None)
        state = dump_finished(workflow, current_data(workflow), row.process_id)
        # Core update: compaction is not a step, so it leaves the optimistic-lock version alone.
        db.session.execute(sa.update(ProcessInstance.__table__).where(ProcessInstance.__table__.c.id == row.id)
                           .values(state=state, compacted_at=now))
    db.session.expunge_all()
    return len(rows)


def _delete_receipts(before, limit: int) -> int:
    from .messages import MessageReceipt
    ids = sa.select(MessageReceipt.message_id).where(MessageReceipt.at < before).limit(limit)
    return db.session.execute(sa.delete(MessageReceipt).where(MessageReceipt.message_id.in_(
        ids.scalar_subquery()))).rowcount


def _delete_correlation_keys(finished_before, limit: int) -> int:
    from .instances import ProcessInstance
    from .messages import CorrelationKey
    finished = sa.select(ProcessInstance.id).where(ProcessInstance.status.in_(FINISHED),
                                                   ProcessInstance.completed_at < finished_before)
    ids = (sa.select(CorrelationKey.id).where(CorrelationKey.first_at < finished_before,
                                              CorrelationKey.instance_id.in_(finished)).limit(limit))
    return db.session.execute(sa.delete(CorrelationKey).where(CorrelationKey.id.in_(
        ids.scalar_subquery()))).rowcount


retention_cli = AppGroup("retention", help="Remove or compact what finished cases no longer need.")


@retention_cli.command("run")
def run_command():
    """Compact finished instances and remove rows past their retention period, once."""
    for kind, count in run().items():
        click.echo(f"{kind}: {count}")


@retention_cli.command("archive-audit")
@click.option("--before", required=True, help="YYYY-MM: archive every month before this one")
@click.option("--actor", default="retention", show_default=True, help="who archives (audited)")
def archive_audit_command(before, actor):
    """Move the audit log's months before --before to gzip'd JSON-lines files, hash recorded."""
    from .audit_archive import archive, month_bounds, months_before
    from .exceptions import InvalidData
    try:
        month_bounds(before)
        months = months_before(before)
        if not months:
            click.echo(f"no audit events before {before}")
        for month in months:
            record = archive(month, actor=actor)
            if record is not None:
                click.echo(f"{month}: {record.rows} events -> {record.file} sha256 {record.sha256}")
    except InvalidData as err:
        raise click.BadParameter(f"{err}: {'; '.join(m for ms in err.errors.values() for m in ms)}",
                                 param_hint="--before") from None


@retention_cli.command("audit-trail")
@click.argument("instance_id")
def audit_trail_command(instance_id):
    """Print an instance's archived audit events (JSON lines), each archive's hash checked."""
    import json
    from .audit_archive import read
    for event in read(instance_id):
        click.echo(json.dumps(event, ensure_ascii=False, sort_keys=True))


def register(app) -> None:
    app.cli.add_command(retention_cli)
