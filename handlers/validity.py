"""The life of an issued permit: one `permit_validity` instance per permit watches it.

The issue procedure starts the watch right after it registers the permit (`validity.watch`);
the watch waits for the end of the permit's `valid_to` day and for the messages
`permit_extended` and `permit_revoked` (correlated on the permit number) that the extension
and revocation procedures send with `messages.send`. Which procedure runs the watch is
configuration (PERMIT_VALIDITY_PROCESS).
"""
from __future__ import annotations

from typing import Any, Mapping

import sqlalchemy as sa

from engine import instances
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
    return {"started": True, "instance_id": row.id, "process_id": process_id, "permit_no": number}
