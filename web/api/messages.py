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

from flask import url_for
from flask_babel import gettext

from engine import messages
from handlers import cases, revocations

from . import examples, present
from .cases import procedure
from .operation import client, load_json, operation, require_region
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
        return _contract_terminated(envelope["message_id"], envelope["correlation"], payload)
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
    """Starts the revocation (handlers.revocations), once per message id: the receipt is the
    engine's, written with the case in one transaction."""
    name = "contract_terminated"
    delivery = revocations.on_contract_terminated(
        scoped_message_id(message_id), permit_no, payload, process_id=lambda: procedure("revocation"),
        actor=client().actor, may_act_on=lambda permit: require_region(permit.region))
    detail = delivery.detail
    if delivery.status == NOT_WAITING:  # the domain's reason, in the reader's language
        permit = revocations.find_permit(permit_no)
        if delivery.instance_id:
            detail = gettext("a revocation of the permit %(number)s is already in progress (case %(case)s)",
                             number=permit_no, case=delivery.instance_id)
        elif permit is not None:
            detail = gettext("the permit %(number)s is %(status)s, so it cannot be revoked",
                             number=permit_no, status=permit.status)
    answer = _answer(name, permit_no, delivery.status, delivery.first_status, delivery.instance_id,
                     detail, message_id)
    if delivery.status == DELIVERED:
        return answer + ({"Location": url_for("api.get_case", case_id=delivery.instance_id)},)
    return answer


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
