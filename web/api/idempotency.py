"""Idempotency keys: a client retrying a change after a lost answer gets the first result.

A client sends `Idempotency-Key: <its own unique text>` with a change (task completion). The
key is stored with a digest of the request (operation, target, canonical body) in the change's
own transaction, so it exists exactly when the change was committed:
- the same key with the same request answers what the first one did, without doing it again;
- the same key with another request is refused (422), naming the header and the reason;
- a change that failed stored nothing, so the client may retry it with the same key.
Keys belong to the client that sent them; another client's key is another key.
"""
from __future__ import annotations

import hashlib
import json
import re

import sqlalchemy as sa
from flask import request

from engine import clock
from engine.db import UTCDateTime, db

from .problems import validation

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, as HTTP header values travel


class IdempotencyKey(db.Model):
    __tablename__ = "api_idempotency_key"
    __table_args__ = (sa.UniqueConstraint("client_id", "key", name="uq_api_idempotency_key"),)

    id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    client_id = sa.Column(sa.Integer, sa.ForeignKey("api_client.id"), nullable=False)
    key = sa.Column(sa.String(200), nullable=False)
    operation = sa.Column(sa.String(100), nullable=False)
    target = sa.Column(sa.String(200), nullable=False)
    request_hash = sa.Column(sa.String(64), nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False, index=True)


def key_from_request() -> str | None:
    """The request's key, or None when it sent none; a malformed key is a 422 on the header."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not KEY_PATTERN.match(value):
        raise validation({HEADER: ["1 to 200 visible ASCII characters, no spaces"]},
                         f"the {HEADER} header is malformed")
    return value


def digest(operation: str, target: str, body) -> str:
    canonical = json.dumps([operation, target, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def earlier(client_id: int, key: str, operation: str, target: str, request_hash: str) -> IdempotencyKey | None:
    """The stored use of this key when it was this very request; a 422 when it was another."""
    found = db.session.execute(sa.select(IdempotencyKey).filter_by(client_id=client_id, key=key)).scalar_one_or_none()
    if found is None:
        return None
    if (found.operation, found.target, found.request_hash) != (operation, target, request_hash):
        what = "another task" if (found.operation, found.target) != (operation, target) else "another body"
        raise validation({HEADER: [f"this key was used at {found.created_at.isoformat()} for {what}; "
                                   f"send a new key for a new request"]},
                         f"the {HEADER} was already used for a different request")
    return found


def remember(client_id: int, key: str, operation: str, target: str, request_hash: str) -> None:
    """Record the key in the current transaction: it commits with the change, or not at all."""
    db.session.add(IdempotencyKey(client_id=client_id, key=key, operation=operation, target=target,
                                  request_hash=request_hash, created_at=clock.now()))
