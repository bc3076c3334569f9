"""Messages from other systems: the police reply, the employer's consent, a terminated contract.

`police_reply` and `employer_consent` go to the case waiting for them (engine.messages routes
by name and correlation, and remembers each message id's first result). Message ids are the
sending client's own: the service keys them by client, so another client's id is simply new,
and a duplicate answer names only a case the client may read. `contract_terminated`
(from ЕСУТД) starts a revocation of the permit it names; a resend with the same message id is
answered with the first result and starts nothing.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from engine import audit, clock, messages
from engine.db import db
from handlers import cases

from . import examples, present
from .operation import client, load_json, operation, require_region
from .permits import find_permit, open_revocation
from .problems import Problem
from .schemas import (UUID, ContractTerminatedSchema, DeliverySchema, EmployerConsentSchema,
                      MessageCatalogueSchema, PoliceReplySchema, message_schema)

DELIVERED, NOT_FOUND, NOT_WAITING, DUPLICATE = (messages.DELIVERED, messages.NOT_FOUND,
                                                messages.NOT_WAITING, messages.DUPLICATE)


@dataclass(frozen=True)
class MessageType:
    name: str
    description: str
    correlation: str
    payload: type
    envelope: type
    example: dict


def _type(name, description, correlation, payload, example):
    return MessageType(name, description, correlation, payload, message_schema(payload, correlation), example)


CATALOGUE = {t.name: t for t in (
    _type("police_reply", "The territorial police body's answer to the check of a case (IS MP).",
          "case_id: the case the police were asked about", PoliceReplySchema, examples.POLICE_REPLY),
    _type("employer_consent", "The employer's consent to (or refusal of) an extension request.",
          "case_id: the extension case", EmployerConsentSchema, examples.EMPLOYER_CONSENT),
    _type("contract_terminated", "ЕСУТД: the employment contract behind a permit was terminated; "
          "starts a revocation with the ground contract_terminated.",
          "permit_no: the permit the contract carried", ContractTerminatedSchema,
          examples.CONTRACT_TERMINATED),
)}


@operation("GET", "/messages", summary="The messages this service accepts, with their payload schemas",
           tag="messages", scopes=(), responses={200: (MessageCatalogueSchema, "The catalogue")})
def list_message_types():
    from .openapi import json_schema
    return {"items": [{"name": t.name, "description": t.description, "correlation": t.correlation,
                       "payload_schema": json_schema(t.payload)} for t in CATALOGUE.values()]}, 200


@operation("POST", "/messages/<name>", summary="Send a message", tag="messages", scopes=("messages:write",),
           responses={202: (DeliverySchema, "Delivered: the case received it (or the revocation started)"),
                      200: (DeliverySchema, "This message id was received before: its first result")},
           errors=(404, 409, 503),
           description="404: no case (or permit) with this correlation; 409: the case no longer waits "
                       "for this message (the late message is recorded).",
           documented_as=[(name, t.envelope, t.example) for name, t in CATALOGUE.items()])
def send_message(name):
    message_type = CATALOGUE.get(name)
    if message_type is None:
        raise Problem(404, gettext("no message %(name)s; see GET /api/v1/messages", name=repr(name)))
    envelope = load_json(message_type.envelope)
    payload = present.jsonable(envelope["payload"])
    if name == "contract_terminated":
        try:
            return _contract_terminated(envelope["message_id"], envelope["correlation"], payload)
        except _Duplicate as dup:
            first = dup.first
            return _answer(name, envelope["correlation"], DUPLICATE, first.status, first.instance_id,
                           first.detail, envelope["message_id"])
    return _to_waiting_case(name, envelope["message_id"], envelope["correlation"], payload)


def scoped_message_id(message_id: str) -> str:
    """The key the service remembers a message id by: the client's id with its own message id."""
    key = f"{client().id}:{message_id}"
    if len(key) > messages.MAX_KEY_LENGTH:
        key = f"{client().id}:#{hashlib.sha256(message_id.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return key


def _to_waiting_case(name, message_id, correlation, payload):
    case = cases.get(correlation) if re.match(UUID, correlation) else None
    if case is not None:
        require_region(case.region)
    delivery = messages.deliver(name, correlation, payload, message_id=scoped_message_id(message_id),
                                actor=client().actor)
    return _answer(name, correlation, delivery.status, delivery.first_status, delivery.instance_id,
                   delivery.detail, message_id)


def _contract_terminated(message_id, permit_no, payload):
    name = "contract_terminated"
    first = messages.receipt(scoped_message_id(message_id))
    if first is not None:
        return _answer(name, permit_no, DUPLICATE, first.status, first.instance_id, first.detail or "", message_id)
    key = _request_key(name, scoped_message_id(message_id))
    started = db.session.execute(sa.select(cases.Case.id).where(
        cases.Case.kind == "revocation", cases.Case.permit_no == permit_no, cases.Case.request_hash == key)
        .limit(1)).scalar()
    if started is not None:  # started, though its receipt was not written
        return _answer(name, permit_no, DUPLICATE, DELIVERED, started, "revocation started", message_id)
    permit = find_permit(permit_no)
    if permit is None:
        return _refuse(message_id, name, permit_no, payload, NOT_FOUND, None, f"no permit {permit_no}")
    require_region(permit.region)
    initiator = {"type": "esutd", "id": payload.get("contract_no") or message_id[:100]}
    details = payload.get("details") or f"Employment contract terminated on {payload['terminated_on']}."
    try:
        case = open_revocation(permit, "contract_terminated", details, initiator, request_hash=key)
    except Problem as problem:
        if problem.status != 409:
            raise
        db.session.rollback()
        return _refuse(message_id, name, permit_no, payload, NOT_WAITING, problem.extra.get("case_id"),
                       problem.detail)
    _receipt(message_id, name, permit_no, DELIVERED, case.id, "revocation started")
    audit.record("message_delivered", actor=client().actor, instance_id=case.id, details={
        "name": name, "correlation": permit_no, "message_id": message_id, "payload": payload,
        "started": case.kind})
    _commit_receipt(message_id)
    return ({"message_id": message_id, "name": name, "correlation": permit_no, "status": DELIVERED,
             "duplicate": False, "case_id": case.id, "detail": "revocation started"}, 202,
            {"Location": url_for("api.get_case", case_id=case.id)})


def _answer(name, correlation, status, first_status, instance_id, detail, message_id):
    if instance_id is not None and not _readable(instance_id):
        instance_id, detail = None, ""  # never name a case of a region the client does not cover
    body = {"message_id": message_id, "name": name, "correlation": correlation,
            "status": first_status if status == DUPLICATE else status, "duplicate": status == DUPLICATE,
            "case_id": instance_id, "detail": detail or ""}
    if status == DELIVERED:
        return body, 202
    if status == DUPLICATE:
        return body, 200
    if status == NOT_FOUND:
        raise Problem(404, detail or gettext("nothing waits for %(name)s with this correlation", name=repr(name)),
                      message_id=message_id, message_status=status)
    raise Problem(409, detail or gettext("the case no longer waits for %(name)s", name=repr(name)), message_id=message_id,
                  message_status=status, case_id=instance_id)


def _readable(instance_id: str) -> bool:
    case = cases.get(instance_id)
    return case is None or client().covers(case.region)


def _refuse(message_id, name, correlation, payload, status, instance_id, detail):
    """Remember a refused message (a resend is answered with this first result), then answer it."""
    _receipt(message_id, name, correlation, status, instance_id, detail)
    audit.record("message_refused", actor=client().actor, instance_id=instance_id, details={
        "name": name, "correlation": correlation, "message_id": message_id, "status": status,
        "detail": detail, "payload": payload})
    _commit_receipt(message_id)
    return _answer(name, correlation, status, None, instance_id, detail, message_id)


def _receipt(message_id, name, correlation, status, instance_id, detail):
    # engine.messages keeps the first result per message id; this message does not go through
    # deliver() (it opens a case), so its receipt is written here. A crash between the case's
    # commit and this one is covered by the case's request_hash (the message id's key).
    db.session.add(messages.MessageReceipt(message_id=scoped_message_id(message_id), name=name, correlation=correlation,
                                           status=status, instance_id=instance_id, detail=detail[:2000],
                                           at=clock.now()))


def _commit_receipt(message_id):
    try:
        db.session.commit()
    except IntegrityError:  # the same message id sent twice at once: the first one's result stands
        db.session.rollback()
        first = messages.receipt(scoped_message_id(message_id))
        if first is None:
            raise
        raise _Duplicate(first) from None


class _Duplicate(Exception):
    def __init__(self, first):
        super().__init__(first.message_id)
        self.first = first


def _request_key(name: str, message_id: str) -> str:
    return hashlib.sha256(f"message:{name}:{message_id}".encode()).hexdigest()
