"""The life of an issued permit: one `permit_validity` instance per permit watches it.

The issue procedure starts the watch right after it registers the permit (`validity.watch`);
the watch waits for the end of the permit's `valid_to` day and for the messages
`permit_extended` and `permit_revoked` (correlated on the permit number) that the extension
and revocation procedures send with `messages.send`. Which procedure runs the watch is
configuration (PERMIT_VALIDITY_PROCESS). Permits that have no watch (issued before this
procedure existed, or imported) get one from `start_missing_watches`
(`flask permits backfill-watches`). A watch waits for months: its state is packed with its
process's compression dictionary as it starts waiting (engine/state_dictionary.pack_waiting).
"""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa

from engine import instances, state_dictionary
from engine.db import db
from engine.exceptions import NotFound
from engine.operators import HandlerError, operator


class WatchNotStarted(HandlerError):
    """The validity procedure could not be started (not deployed, say): retry once it is."""


@operator("validity.watch")
def watch(ctx, permit: Mapping[str, Any]) -> dict:
    """`validity.watch`: start the validity instance of `permit` (as `permits.register` returns
    it), in the issuing step's transaction. A permit has one watch: asking again returns it."""
    process_id = ctx.config["PERMIT_VALIDITY_PROCESS"]
    number = permit["number"]
    existing = ctx.session.execute(
        sa.select(instances.ProcessInstance.id)
        .where(instances.ProcessInstance.process_id == process_id,
               instances.ProcessInstance.business_key == number).limit(1)).scalar()
    if existing is not None:
        return {"started": False, "instance_id": existing, "process_id": process_id, "permit_no": number}
    data = {"permit_no": number, "region": permit["region"], "issued_by_case": ctx.instance_id}
    try:
        row = instances.start(process_id, data, actor=ctx.actor, business_key=number, commit=False)
    except NotFound as err:
        raise WatchNotStarted(f"the validity of permit {number} cannot be watched: {err}; "
                              f"deploy {process_id}.bpmn and retry this task") from None
    state_dictionary.pack_waiting(row.id)  # it waits for the permit's whole validity
    return {"started": True, "instance_id": row.id, "process_id": process_id, "permit_no": number}


def permits_without_watch(config, limit: int | None = None) -> list:
    """Active permits no validity instance watches (issued before the procedure existed, or
    imported): their expiry would never free their quota unit."""
    from . import permits
    process_id = config["PERMIT_VALIDITY_PROCESS"]
    watched = sa.select(instances.ProcessInstance.id).where(
        instances.ProcessInstance.process_id == process_id,
        instances.ProcessInstance.business_key == permits.Permit.number)
    query = (sa.select(permits.Permit).where(permits.Permit.status == permits.ACTIVE, ~watched.exists())
             .order_by(permits.Permit.id))
    return list(db.session.execute(query.limit(limit) if limit else query).scalars())


def start_missing_watches(config, actor: str) -> list[tuple[str, str]]:
    """Start a validity watch for every active permit that has none, one commit per permit (a
    failure keeps the ones started); returns [(permit number, instance id)]. Safe to rerun."""
    from engine import audit
    process_id = config["PERMIT_VALIDITY_PROCESS"]
    started = []
    for permit in permits_without_watch(config):
        data = {"permit_no": permit.number, "region": permit.region, "issued_by_case": permit.issued_by_case}
        try:
            row = instances.start(process_id, data, actor=actor, business_key=permit.number, commit=False)
        except NotFound as err:
            db.session.rollback()
            raise WatchNotStarted(f"the validity of permit {permit.number} cannot be watched: {err}; "
                                  f"deploy {process_id}.bpmn first") from None
        state_dictionary.pack_waiting(row.id)
        audit.record("validity_watch_backfilled", actor=actor, instance_id=row.id,
                     details={"permit_no": permit.number})
        db.session.commit()
        started.append((permit.number, row.id))
    return started
