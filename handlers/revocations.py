"""Revocation of a permit (docs/law.md §7): may it be revoked, on what ground, and who may confirm.

A revocation case carries `permit_no` and `revocation` = {ground, details, initiator: {type,
id}}. Only an active permit within its validity is revoked: an expired permit has already
ended (expiry is not a revocation) and a revoked one cannot be revoked twice, so such a
revocation ends at once with the outcome `refused` and the reason (the API contract's codes).

Four eyes: the officer who initiated a revocation may not confirm it. The rule runs in
`engine.tasks.complete` (a task-completion check, engine/hooks.py), so it holds whichever
screen or API completes the review. An officer initiator's id is the identity the service
authenticated (the API records the officer its token acts as, never a name the body states),
and ids are compared as identities: case, surrounding and inner spaces do not make another person.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping

import sqlalchemy as sa

from engine import audit, clock, instances, messages
from engine.db import db
from engine.exceptions import Forbidden
from engine.operators import operator

from . import cases, permits
from .grounds import RULES, revocation_ground
from .identity import mask_iin

NOT_REVOCABLE = "permit_not_active"
PERMIT_NUMBER = re.compile(r"^[A-Z]{3}-[0-9]{4}-[0-9]{1,10}$")
CONTRACT_TERMINATED = "contract_terminated"
CHECK = "permits.revocable"
REVIEW_CHECK = "officer.review"
CONFIRM = "confirm"


class RevocationRefused(Exception):
    """A revocation cannot start now; `permit_no` (and `case_id`, when another case stands in
    the way) say which. The API answers it with a conflict; a message, with not_waiting."""

    def __init__(self, message: str, permit_no: str, case_id: str | None = None):
        super().__init__(message)
        self.permit_no, self.case_id = permit_no, case_id


class PermitNotActive(RevocationRefused):
    def __init__(self, permit):
        super().__init__(f"the permit {permit.number} is {permit.status}, so it cannot be revoked", permit.number)
        self.status = permit.status


class RevocationInProgress(RevocationRefused):
    def __init__(self, permit_no: str, case_id: str):
        super().__init__(f"a revocation of the permit {permit_no} is already in progress (case {case_id})",
                         permit_no, case_id)


def find_permit(permit_no) -> permits.Permit | None:
    """The permit with this number; None for no such permit or a text that is no permit number."""
    if not isinstance(permit_no, str) or not PERMIT_NUMBER.match(permit_no):
        return None
    return permits.get_permit(permit_no)


def in_progress(permit_no: str) -> str | None:
    """The id of the revocation case of this permit still under way, if there is one."""
    return db.session.execute(
        sa.select(cases.Case.id).join(instances.ProcessInstance, instances.ProcessInstance.id == cases.Case.id)
        .where(cases.Case.kind == "revocation", cases.Case.permit_no == permit_no,
               cases.Case.outcome_code.is_(None),
               instances.ProcessInstance.status.in_((instances.IN_PROGRESS, instances.INCIDENT)))
        .limit(1)).scalar()


def open_revocation(permit, ground: str, details, initiator: Mapping[str, Any], *, process_id: str,
                    created_by: str, commit: bool = True) -> cases.Case:
    """Open a revocation case (procedure `process_id`) for an active permit with no revocation in
    progress; else PermitNotActive or RevocationInProgress, and nothing is written."""
    if permit.status != permits.ACTIVE:
        raise PermitNotActive(permit)
    pending = in_progress(permit.number)
    if pending is not None:
        raise RevocationInProgress(permit.number, pending)
    data = {"region": permit.region, "kind": "revocation", "permit_no": permit.number,
            "revocation": {"ground": ground, "details": details,
                           "initiator": {"type": initiator["type"], "id": initiator["id"]}},
            "filed_at": clock.now().isoformat()}
    return cases.open_case("revocation", process_id, data, region=permit.region, created_by=created_by,
                           permit_no=permit.number, applicant_iin=permit.holder_iin,
                           applicant_name=permit.holder_name, commit=commit)


def on_contract_terminated(message_id: str, permit_no: str, payload: Mapping[str, Any], *,
                           process_id: str | Callable[[], str], actor: str, may_act_on: Callable[[permits.Permit], None] | None = None
                           ) -> messages.Delivery:
    """ЕСУТД says the employment contract behind `permit_no` was terminated: start its revocation
    on the ground contract_terminated, once per message id (engine.messages.handle keeps the
    receipt, in the same transaction as the case). "not_found": no such permit; "not_waiting":
    the permit is not active or a revocation of it is under way (that case's id); "duplicate":
    this message id came before. `may_act_on(permit)` may raise to refuse the sender (its
    access); then nothing is written. `process_id` may be a function that finds it (and may
    raise when the procedure is not deployed), asked only when a revocation is to start."""
    def start() -> messages.Delivery:
        permit = find_permit(permit_no)
        if permit is None:
            return messages.Delivery(messages.NOT_FOUND, detail=f"no permit {permit_no}")
        if may_act_on is not None:
            may_act_on(permit)
        initiator = {"type": "esutd", "id": payload.get("contract_no") or message_id[:100]}
        details = payload.get("details") or f"Employment contract terminated on {payload.get('terminated_on')}."
        try:
            case = open_revocation(permit, CONTRACT_TERMINATED, details, initiator, created_by=actor,
                                   process_id=process_id() if callable(process_id) else process_id,
                                   commit=False)
        except RevocationRefused as refused:
            return messages.Delivery(messages.NOT_WAITING, refused.case_id, detail=str(refused))
        audit.record("message_delivered", actor=actor, instance_id=case.id, details={
            "name": CONTRACT_TERMINATED, "correlation": permit_no, "message_id": message_id,
            "payload": dict(payload), "started": case.kind})
        return messages.Delivery(messages.DELIVERED, case.id, detail="revocation started")

    return messages.handle(CONTRACT_TERMINATED, permit_no, message_id, start, actor=actor, payload=dict(payload))


@operator("revocations.check")
def check(ctx, permit_no: str) -> dict:
    """`revocations.check`: may `permit_no` be revoked now? `ok` False with one ground saying
    why not (no such permit, expired, already revoked)."""
    permit = permits.get_permit(permit_no, ctx.session)
    reason = _why_not_revocable(permit, permit_no, ctx.config, ctx.now())
    grounds = [] if reason is None else [{
        "code": NOT_REVOCABLE, "title": "The permit is not active, so it cannot be revoked",
        "check": CHECK, "evidence": reason,
        "legal_basis": f"{RULES}: revocation ends a valid permit; a permit that has expired or was "
                       f"revoked has already ended", "permit_number": permit_no}]
    return {"ok": reason is None, "permit_number": permit_no,
            "permit": permit.as_dict(history=False) if permit is not None else None, "grounds": grounds}


@operator("revocations.decision", pure=True)
def decision(ctx, revocation: Mapping[str, Any], form: Mapping[str, Any]) -> dict:
    """`revocations.decision`: the confirmed revocation set out for the register, the case's
    outcome and the notice: {grounds, ground_title, comment, revoked_on}."""
    ground = revocation_ground(revocation["ground"])
    details = (revocation.get("details") or "").strip()
    remark = (form.get("comment") or "").strip()
    initiator = revocation.get("initiator") or {}
    evidence = " ".join(p for p in (details, f"Confirmed on review: {remark}" if remark else "") if p)
    return {
        "grounds": [{"code": ground.code, "title": ground.title, "check": REVIEW_CHECK,
                     "evidence": evidence or ground.title, "legal_basis": ground.legal_basis,
                     "initiator": {"type": initiator.get("type"), "id": _shown_id(initiator)}}],
        "ground_title": ground.title,
        "comment": " ".join(p for p in (details, remark) if p) or None,
        "revoked_on": _local(ctx.now(), ctx.config).date().isoformat(),
    }


@operator("revocations.dismissal", pure=True)
def dismissal(ctx, revocation: Mapping[str, Any], form: Mapping[str, Any]) -> list[dict]:
    """`revocations.dismissal`: the officer's reason for dismissing the revocation, as the one
    ground of the outcome `dismissed` (the ground that was alleged is kept with it)."""
    alleged = revocation_ground(revocation["ground"])
    comment = (form.get("comment") or "").strip()
    if not comment:
        raise ValueError("a dismissal needs the officer's comment")
    return [{"code": "revocation_dismissed", "title": "The officer dismissed the revocation",
             "check": REVIEW_CHECK, "evidence": comment,
             "legal_basis": f"{RULES}: the local executive body reviews the grounds for revocation",
             "alleged_ground": alleged.code, "alleged_ground_title": alleged.title}]


def initiator_may_not_confirm(actor, task_row, spiff_task, submitted) -> None:
    """A task completion check (engine.tasks.complete): the officer who initiated a revocation
    may not confirm it; another officer of the region must."""
    if not isinstance(submitted, Mapping) or submitted.get("decision") != CONFIRM:
        return
    revocation = spiff_task.data.get("revocation")
    if not isinstance(revocation, Mapping):
        return
    initiator = revocation.get("initiator") or {}
    if initiator.get("type") == "officer" and same_person(initiator.get("id"), actor.name):
        raise Forbidden(f"four-eyes rule: {actor.name} initiated the revocation of permit "
                        f"{spiff_task.data.get('permit_no')}, so another officer must confirm it "
                        f"(the initiator may still dismiss it)")


def same_person(recorded, name) -> bool:
    """Do two officer ids name one person? ("robot-ast " and "Robot-AST" do.)"""
    return bool(_identity(recorded)) and _identity(recorded) == _identity(name)


def _identity(value) -> str:
    return "".join(str(value or "").split()).casefold()


def _why_not_revocable(permit, permit_no, config, now) -> str | None:
    if permit is None:
        return f"No permit {permit_no} is in the register."
    if permit.status == permits.EXPIRED:
        return (f"Permit {permit_no} expired at the end of {permit.valid_to:%d.%m.%Y}, the last day "
                f"of its validity: an expired permit is not revoked (its quota unit is already free).")
    if permit.status == permits.REVOKED:
        ended = _local(permit.ended_at, config) if permit.ended_at else None
        title = revocation_ground(permit.revocation_ground).title if permit.revocation_ground else "a ground"
        on = f" on {ended:%d.%m.%Y}" if ended else ""
        return f"Permit {permit_no} was already revoked{on} ({title})."
    if permit.status != permits.ACTIVE:
        return f"Permit {permit_no} is {permit.status}."
    if now >= permits.end_of_validity(permit, config):
        return (f"Permit {permit_no} was valid until {permit.valid_to:%d.%m.%Y} inclusive and has "
                f"ended: an expired permit is not revoked.")
    return None


def _local(moment, config):
    return clock.to_local(moment, config)


def _shown_id(initiator: Mapping[str, Any]) -> Any:
    # An initiator id may be a person's IIN (an employer's notice): never shown in full.
    value = initiator.get("id")
    text = str(value or "")
    return mask_iin(text) if text.isdigit() and len(text) == 12 else value
