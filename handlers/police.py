"""Police coordination through the information system "Migration Police" (docs/law.md §1, §2).

`police.request_check` sends the applicant's data to the territorial internal affairs body;
the answer comes back later as the message `police_reply` (correlation: the case id, payload
{verdict: "approve" | "object", reason}), and the diagram waits for it with its 1-working-day
deadline, counted from the moment the request was delivered (docs/law.md §11).

The operator is external: it runs as a job after the step that reached it committed, with no
transaction open (engine/jobs.py), so a slow police system holds up no client and no lock.
`record_request` then applies the delivery in the step that resumes the case: the request row,
with `delivered_at`. Two adapters share one interface, chosen by POLICE_ADAPTER:

- `http`: posts the request as JSON to POLICE_URL with the job's id as `Idempotency-Key` (the
  same on every attempt, so a request re-sent after a worker died is one request); the police
  system answers through the REST API. A timeout, a refused connection or a 5xx is
  `PoliceUnavailable`, retried by the job with back-off; when the attempts run out the case is
  an incident for an operator — an undelivered request is never taken for police silence. A 4xx
  is a refusal of the request itself (an incident at once).
- `simulator`: answers from the administered lists (`flask reference police-add ...`):
  "object" with the listed reason when the IIN or passport is on the watch list, nothing at
  all when the IIN is on the silent list, "approve" otherwise. Its answer is queued as a row
  due POLICE_SIMULATOR_DELAY_SECONDS later and delivered by `deliver_due_replies` (the
  scheduler's sweep), never inside the requesting step, even with no delay.

Every request is recorded (`police_request`), for both adapters.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Mapping, Protocol

import requests
import sqlalchemy as sa

from engine import messages, retention
from engine.db import UTCDateTime, db
from engine.operators import HandlerError, applies, operator

from . import reference
from .identity import mask_iin, mask_passport

log = logging.getLogger(__name__)

REPLY_MESSAGE = "police_reply"
APPROVE, OBJECT = "approve", "object"
# police_request.status
SENT = "sent"                        # posted to the police system (http)
REPLY_PENDING = "reply_pending"      # the simulator's answer waits for its due time
SILENT = "silent"                    # the simulator will never answer
REPLY_DELIVERED = "reply_delivered"  # the answer reached the case
REPLY_UNDELIVERABLE = "reply_undeliverable"  # the case no longer waited for it


class PoliceUnavailable(Exception):
    """The police system did not take the request (timeout, connection, 5xx): retry."""


class PoliceRequestRefused(HandlerError):
    """The police system refused the request as malformed or unauthorised (4xx)."""


class PoliceRequest(db.Model):
    __tablename__ = "police_request"
    __table_args__ = (sa.Index("ix_police_request_due", "status", "reply_due_at"),)

    id = sa.Column(sa.String(36), primary_key=True)
    instance_id = sa.Column(sa.String(36), nullable=False, index=True)
    adapter = sa.Column(sa.String(20), nullable=False)
    status = sa.Column(sa.String(30), nullable=False)
    requested_at = sa.Column(UTCDateTime, nullable=False)
    delivered_at = sa.Column(UTCDateTime)  # the police answer term runs from here
    reply_verdict = sa.Column(sa.String(10))
    reply_reason = sa.Column(sa.Text)
    reply_due_at = sa.Column(UTCDateTime)
    reply_delivered_at = sa.Column(UTCDateTime)
    delivery_status = sa.Column(sa.String(20))

    def as_dict(self) -> dict:
        iso = lambda v: v.isoformat() if v else None  # noqa: E731
        return {"request_id": self.id, "instance_id": self.instance_id, "adapter": self.adapter,
                "status": self.status, "requested_at": iso(self.requested_at),
                "delivered_at": iso(self.delivered_at), "reply_due_at": iso(self.reply_due_at),
                "reply_delivered_at": iso(self.reply_delivered_at),
                "delivery_status": self.delivery_status}


class PoliceAdapter(Protocol):
    name: str

    def send(self, payload: dict, idempotency_key: str) -> None:
        """Hand the request over (no database here); the answer arrives later as a `police_reply`."""

    def record(self, session, request: PoliceRequest, payload: dict) -> None:
        """After delivery, inside the step: what this adapter keeps of the request."""


@operator("police.request_check", retry_on=(PoliceUnavailable,), external=True)
def request_check(ctx, applicant: Mapping[str, Any], employer: Mapping[str, Any] | None = None,
                  region: str | None = None, kind: str = "issue") -> dict:
    """`police.request_check`: ask the police to agree to the permit for this applicant.

    `applicant`: {iin, passport_no, surname, given_name, birth_date, citizenship, ...};
    `employer`: {iin, name}. Runs in a worker; the result says where the answer will come from
    and when the request was delivered, not the answer.
    """
    if not applicant.get("iin"):
        raise ValueError("the police are asked about an applicant with an IIN")
    adapter = adapter_for(ctx.config)
    payload = request_payload(ctx.job_id, ctx.instance_id, applicant, employer, region, kind, ctx.now())
    adapter.send(payload, idempotency_key=ctx.job_id)
    delivered = ctx.now()
    log.info("police check %s delivered for case %s (IIN %s, passport %s) via %s, attempt %d",
             ctx.job_id, ctx.instance_id, mask_iin(applicant.get("iin")),
             mask_passport(applicant.get("passport_no")), adapter.name, ctx.attempt)
    return {"requested": True, "request_id": ctx.job_id, "adapter": adapter.name,
            "requested_at": payload["requested_at"], "delivered_at": delivered.isoformat(),
            "reply_message": REPLY_MESSAGE, "correlation": ctx.instance_id}


@applies("police.request_check")
def record_request(ctx, result: dict, applicant: Mapping[str, Any], employer=None, region=None,
                   kind: str = "issue") -> dict:
    """In the step that resumes the case: the request row, as delivered (once per job)."""
    request = ctx.session.get(PoliceRequest, result["request_id"])
    if request is None:
        adapter = adapter_for(ctx.config)
        request = PoliceRequest(id=result["request_id"], instance_id=ctx.instance_id, adapter=adapter.name,
                                status=SENT, requested_at=datetime.fromisoformat(result["requested_at"]),
                                delivered_at=datetime.fromisoformat(result["delivered_at"]))
        payload = request_payload(request.id, ctx.instance_id, applicant, employer, region, kind,
                                  request.requested_at)
        adapter.record(ctx.session, request, payload)
        ctx.session.add(request)
    return result


def request_payload(request_id, case_id, applicant, employer, region, kind, requested_at) -> dict:
    return {"request_id": request_id, "case_id": case_id, "kind": kind, "region": region,
            "requested_at": requested_at.isoformat(),
            "reply": {"message": REPLY_MESSAGE, "correlation": case_id},
            "applicant": dict(applicant), "employer": dict(employer or {})}


def adapter_for(config: Mapping[str, Any]) -> PoliceAdapter:
    name = config["POLICE_ADAPTER"]
    if name == "simulator":
        return SimulatedPolice(float(config["POLICE_SIMULATOR_DELAY_SECONDS"]))
    if name == "http":
        if not config.get("POLICE_URL"):
            raise HandlerError("POLICE_ADAPTER is http but POLICE_URL is not configured")
        return HttpPolice(config["POLICE_URL"], float(config["HTTP_TIMEOUT_SECONDS"]))
    raise HandlerError(f"unknown POLICE_ADAPTER {name!r} (simulator or http)")


class HttpPolice:
    """The production adapter: POST the request as JSON to IS "Migration Police"."""

    name = "http"

    def __init__(self, url: str, timeout: float):
        self.url, self.timeout = url, timeout

    def send(self, payload: dict, idempotency_key: str) -> None:
        try:
            response = requests.post(self.url, json=payload, timeout=self.timeout,
                                     headers={"Idempotency-Key": idempotency_key})
        except (requests.Timeout, requests.ConnectionError) as err:
            raise PoliceUnavailable(f"the police system did not answer: {type(err).__name__}") from None
        if response.status_code >= 500:
            raise PoliceUnavailable(f"the police system answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PoliceRequestRefused(f"the police system refused the request: HTTP {response.status_code}")

    def record(self, session, request: PoliceRequest, payload: dict) -> None:
        request.status = SENT


class SimulatedPolice:
    """The built-in police: decides from the watch and silent lists, answers after a delay."""

    name = "simulator"

    def __init__(self, delay_seconds: float):
        self.delay = timedelta(seconds=delay_seconds)

    def send(self, payload: dict, idempotency_key: str) -> None:
        """The simulated system takes every request; it decides when the request is recorded."""

    def record(self, session, request: PoliceRequest, payload: dict) -> None:
        verdict, reason = self.decide(payload["applicant"], session)
        if verdict is None:
            request.status = SILENT
            return
        request.status = REPLY_PENDING
        request.reply_verdict, request.reply_reason = verdict, reason
        request.reply_due_at = request.delivered_at + self.delay

    @staticmethod
    def decide(applicant: Mapping[str, Any], session=None) -> tuple[str | None, str | None]:
        entries = reference.police_listings(applicant.get("iin"), applicant.get("passport_no"),
                                            session=session)
        watched = [e for e in entries if e.list_name == reference.WATCH]
        if watched:
            return OBJECT, "; ".join(e.reason for e in watched if e.reason)
        if any(e.list_name == reference.SILENT and e.iin == applicant.get("iin") for e in entries):
            return None, None
        return APPROVE, None


def deliver_due_replies(now, limit: int = 100) -> dict:
    """Deliver the simulator's answers that are due, each in its own transaction.

    Called by the scheduler's sweep. A row is claimed by a conditional update, so two sweeps
    never deliver one answer twice; a failure leaves it pending for the next sweep.
    """
    due = list(db.session.execute(
        sa.select(PoliceRequest.id).where(PoliceRequest.status == REPLY_PENDING,
                                          PoliceRequest.reply_due_at <= now)
        .order_by(PoliceRequest.reply_due_at, PoliceRequest.id).limit(limit)).scalars())
    db.session.rollback()
    counts = {"delivered": 0, "undeliverable": 0, "failed": 0}
    for request_id in due:
        try:
            claimed = db.session.execute(
                sa.update(PoliceRequest).where(PoliceRequest.id == request_id,
                                               PoliceRequest.status == REPLY_PENDING)
                .values(status=REPLY_DELIVERED).execution_options(synchronize_session=False))
            if claimed.rowcount != 1:
                db.session.rollback()
                continue
            request = db.session.get(PoliceRequest, request_id)
            result = messages.deliver(REPLY_MESSAGE, request.instance_id,
                                      {"verdict": request.reply_verdict, "reason": request.reply_reason},
                                      message_id=f"police-simulator:{request.id}",
                                      actor="police-simulator", commit=False)
            request.delivery_status = result.status
            request.reply_delivered_at = now
            if result.status in ("delivered", "duplicate"):
                counts["delivered"] += 1
            else:
                request.status = REPLY_UNDELIVERABLE
                counts["undeliverable"] += 1
            db.session.commit()
        except Exception:
            db.session.rollback()
            counts["failed"] += 1
            log.exception("police reply %s not delivered; it stays pending", request_id)
    return counts


@retention.sweeper("police_requests")
def remove_answered(session, now, config, limit) -> int:
    """Answered police requests past RETENTION_POLICE_REQUEST_DAYS (the case data keeps the answer)."""
    before = now - timedelta(days=config["RETENTION_POLICE_REQUEST_DAYS"])
    ids = (sa.select(PoliceRequest.id).where(PoliceRequest.status.in_((REPLY_DELIVERED, REPLY_UNDELIVERABLE)),
                                             PoliceRequest.reply_due_at < before,
                                             PoliceRequest.reply_delivered_at < before).limit(limit))
    return session.execute(sa.delete(PoliceRequest).where(PoliceRequest.id.in_(ids.scalar_subquery()))).rowcount
