"""Notifications: an outbox written in the step's transaction, sent afterwards with retries.

`notifications.send` renders the template and queues one row per recipient in the step's
transaction, so a notification exists exactly when the decision it announces committed.
`send_pending(now)` (the scheduler's sweep) sends due rows through the adapter chosen by
NOTIFY_ADAPTER — `simulator` (records and logs) or `http` (POST JSON to NOTIFY_URL) — and
marks each sent; a failure is retried with exponential back-off (NOTIFY_BACKOFF_SECONDS,
doubled per attempt, at most NOTIFY_BACKOFF_MAX_SECONDS) until NOTIFY_MAX_ATTEMPTS, then the
row stays `failed` for an operator to see.

A row is claimed before sending by a conditional update that also pushes its
`next_attempt_at` NOTIFY_CLAIM_SECONDS ahead, so two senders never send it at once and a
sender that died mid-send leaves it to be retried (delivery is at least once).

Templates live in `templates/notifications/<name>.txt`: the first line is the subject, the
rest the body (Jinja, plain text). Recipients and personal data reach the log masked.

A row keeps its text once, as the template, its parameters (`data`) and the recipient's
language: `subject` and `body` are rendered from them when read (sent, listed); a row queued
before this stored its text, and that text is read as stored. The recipients of one send share
its parameters: the first row holds them, the others `{"@same_as": <its id>}` (`params` reads
either); retention copies them into a row that still refers to one it removes.
"""
from __future__ import annotations

import logging
from collections import deque
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping, Protocol
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa
from flask import current_app
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, pass_context
from sqlalchemy.orm import object_session

from engine import retention
from engine.db import UTCDateTime, db
from engine.operators import operator

from .durations import as_date
from .identity import mask_iin

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
SAME_AS = "@same_as"  # not a name a template can use: the parameters are another row's
TEMPLATES = ("issued", "not_accepted", "refused", "extended", "lapsed", "revoked", "expired",
             "escalation", "reminder")


class NotificationFailed(Exception):
    """The adapter could not deliver a notification (the outbox will retry)."""


class Notification(db.Model):
    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_due", "status", "next_attempt_at"),)

    id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    instance_id = sa.Column(sa.String(36), index=True)
    recipient = sa.Column(sa.String(200), nullable=False)
    channel = sa.Column(sa.String(20), nullable=False)
    template = sa.Column(sa.String(50), nullable=False)
    data = sa.Column(sa.JSON, nullable=False, default=dict)
    language = sa.Column(sa.String(5))  # the text's language (none: English)
    # The text as rendered when queued, kept only by rows queued before the text was rendered
    # on read; `subject` and `body` below read either.
    stored_subject = sa.Column("subject", sa.String(500))
    stored_body = sa.Column("body", sa.Text)
    status = sa.Column(sa.String(10), nullable=False)
    attempts = sa.Column(sa.Integer, nullable=False, default=0)
    next_attempt_at = sa.Column(UTCDateTime, nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False)
    sent_at = sa.Column(UTCDateTime)
    last_error = sa.Column(sa.Text)
    adapter = sa.Column(sa.String(20))

    @property
    def subject(self) -> str:
        return self.stored_subject if self.stored_subject is not None else self._text()[0]

    @property
    def body(self) -> str:
        return self.stored_body if self.stored_body is not None else self._text()[1]

    @property
    def params(self) -> dict:
        """The template's parameters: this row's, or those of the row of its send that holds them."""
        data = self.data or {}
        if isinstance(data, dict) and set(data) == {SAME_AS}:
            holder = (object_session(self) or db.session).get(Notification, data[SAME_AS])
            return dict(holder.data) if holder is not None else {}
        return data

    def _text(self) -> tuple[str, str]:
        text = self.__dict__.get("_rendered")
        if text is None:
            text = self.__dict__["_rendered"] = render(self.template, self.params, current_app.config,
                                                       self.language)
        return text

    def as_dict(self) -> dict:
        iso = lambda v: v.isoformat() if v else None  # noqa: E731
        return {"id": self.id, "instance_id": self.instance_id, "recipient": self.recipient,
                "channel": self.channel, "template": self.template, "subject": self.subject,
                "status": self.status, "attempts": self.attempts,
                "next_attempt_at": iso(self.next_attempt_at), "created_at": iso(self.created_at),
                "sent_at": iso(self.sent_at), "last_error": self.last_error, "adapter": self.adapter}


class NotificationAdapter(Protocol):
    name: str

    def deliver(self, message: dict) -> None:
        """Deliver {id, channel, recipient, subject, body, template}; raise NotificationFailed."""


@operator("notifications.send")
def send(ctx, template: str, recipients: list | Mapping[str, Any], data: Mapping[str, Any] | None = None) -> dict:
    """`notifications.send`: queue `template` for each recipient {channel, to}.

    `to` is an IIN for the applicant's or employer's personal account (channel `egov`), an
    address for `sms`/`email`, or `role:<role>:<region>` for officers (channel `internal`).
    """
    if isinstance(recipients, Mapping):
        recipients = [recipients]
    if not recipients:
        raise ValueError("a notification needs at least one recipient")
    rows = []
    for r in recipients:
        rows.append(queue(ctx.session, template=template, recipient=r["to"], channel=r["channel"],
                          data=data or {}, instance_id=ctx.instance_id, now=ctx.now(), config=ctx.config,
                          language=recipient_language(r, ctx.data, ctx.config),
                          same_as=rows[0] if rows else None))
        if len(rows) == 1 and len(recipients) > 1:
            ctx.session.flush()  # the first row's id, which the others refer to
    ctx.session.flush()
    return {"queued": len(rows), "template": template, "notification_ids": [r.id for r in rows]}


def recipient_language(recipient: Mapping[str, Any], case_data: Mapping[str, Any],
                       config: Mapping[str, Any]) -> str:
    """kk or ru: the recipient's own, else the application's preferred language for the people
    it names, else the default (APPLICANT_DEFAULT_LANGUAGE; officers: DEFAULT_LANGUAGE)."""
    languages = ("kk", "ru")
    if recipient.get("language") in languages:
        return recipient["language"]
    if recipient.get("channel") == "internal":
        default = config.get("DEFAULT_LANGUAGE", "ru")
        return default if default in languages else "ru"
    application = case_data.get("application") if isinstance(case_data, Mapping) else None
    preferred = application.get("language") if isinstance(application, Mapping) else None
    if preferred in languages:
        return preferred
    default = config.get("APPLICANT_DEFAULT_LANGUAGE", "ru")
    return default if default in languages else "ru"


def queue(session, *, template: str, recipient: str, channel: str, data: Mapping[str, Any],
          instance_id: str | None, now: datetime, config: Mapping[str, Any],
          language: str | None = None, same_as: Notification | None = None) -> Notification:
    """Render and add one notification to the outbox (the caller's transaction commits it);
    `same_as`: a flushed row of the same send whose parameters this one shares."""
    if channel not in config["NOTIFY_CHANNELS"]:
        raise ValueError(f"unknown channel {channel!r} (NOTIFY_CHANNELS: {config['NOTIFY_CHANNELS']})")
    if not str(recipient or "").strip():
        raise ValueError("a notification needs a recipient")
    render(template, data, config, language)  # a template that cannot render fails the step now
    row = Notification(instance_id=instance_id, recipient=str(recipient).strip(), channel=channel,
                       template=template, language=language,
                       data={SAME_AS: same_as.id} if same_as is not None and same_as.data == dict(data)
                       else dict(data),
                       status=PENDING, attempts=0, next_attempt_at=now, created_at=now)
    session.add(row)
    log.info("notification %r queued for %s via %s (case %s)", template, mask_recipient(recipient),
             channel, instance_id)
    return row


def render(template: str, data: Mapping[str, Any], config: Mapping[str, Any],
           language: str | None = None) -> tuple[str, str]:
    """(subject, body) of a template in `language` (templates/notifications/<kk|ru>/, English
    without one); a value the template needs and `data` lacks is an error."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown notification template {template!r} (one of {TEMPLATES})")
    folder = f"{language}/" if language in ("kk", "ru") else ""
    try:
        text = _environment.get_template(f"{folder}{template}.txt").render(
            **_titled(data, language or "en"), _timezone=config["CALENDAR_TIMEZONE"])
    except TemplateNotFound:
        raise ValueError(f"notification template {template!r} has no file") from None
    subject, _, body = text.strip().partition("\n")
    return subject.strip(), body.strip() + "\n"


def send_pending(now: datetime, *, adapter: NotificationAdapter | None = None, limit: int = 100,
                 config: Mapping[str, Any] | None = None) -> dict:
    """Send the notifications due at `now`, each claimed, sent and recorded on its own."""
    config = config or current_app.config
    adapter = adapter or adapter_for(config)
    due = list(db.session.execute(
        sa.select(Notification.id).where(Notification.status.in_((PENDING, SENDING)),
                                          Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id).limit(limit)).scalars())
    db.session.rollback()
    counts = {SENT: 0, "retrying": 0, FAILED: 0}
    for notification_id in due:
        if not _claim(notification_id, now, config):
            continue
        row = db.session.get(Notification, notification_id)
        message = {"id": row.id, "channel": row.channel, "recipient": row.recipient,
                   "subject": row.subject, "body": row.body, "template": row.template}
        db.session.rollback()  # no transaction stays open while the adapter talks to the network
        try:
            adapter.deliver(message)
            error = None
        except Exception as err:  # any adapter failure is retried, never lost
            error = f"{type(err).__name__}: {err}"[:2000]
        counts[_record(notification_id, now, error, adapter.name, config)] += 1
    return counts


def mask_recipient(recipient: Any) -> str:
    """A recipient for the log: an IIN or a phone number masked, an e-mail's name hidden."""
    text = str(recipient or "")
    if text.isdigit() and len(text) == 12:
        return mask_iin(text)
    if "@" in text:
        name, _, domain = text.partition("@")
        return f"{name[:1]}***@{domain}"
    digits = [c for c in text if c.isdigit()]
    if len(digits) >= 7:
        return "*" * (len(text) - 2) + text[-2:]
    return text


def adapter_for(config: Mapping[str, Any]) -> NotificationAdapter:
    name = config["NOTIFY_ADAPTER"]
    if name == "simulator":
        return SimulatedNotifier()
    if name == "http":
        if not config.get("NOTIFY_URL"):
            raise ValueError("NOTIFY_ADAPTER is http but NOTIFY_URL is not configured")
        return HttpNotifier(config["NOTIFY_URL"], float(config["HTTP_TIMEOUT_SECONDS"]))
    raise ValueError(f"unknown NOTIFY_ADAPTER {name!r} (simulator or http)")


class HttpNotifier:
    """The production adapter: POST each notification as JSON to the notification gateway."""

    name = "http"

    def __init__(self, url: str, timeout: float):
        self.url, self.timeout = url, timeout

    def deliver(self, message: dict) -> None:
        try:
            response = requests.post(self.url, json=message, timeout=self.timeout,
                                     headers={"Idempotency-Key": f"notification-{message['id']}"})
        except (requests.Timeout, requests.ConnectionError) as err:
            raise NotificationFailed(f"the gateway did not answer ({type(err).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise NotificationFailed(f"the gateway answered HTTP {response.status_code}")


class SimulatedNotifier:
    """The development adapter: records what would be sent (in this process) and logs it."""

    name = "simulator"
    sent: deque = deque(maxlen=1000)

    def deliver(self, message: dict) -> None:
        type(self).sent.append(message)
        log.info("notification %s (%s) sent to %s via %s [simulator]", message["id"],
                 message["template"], mask_recipient(message["recipient"]), message["channel"])


def _claim(notification_id: int, now: datetime, config: Mapping[str, Any]) -> bool:
    claimed = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.status.in_((PENDING, SENDING)),
               Notification.next_attempt_at <= now)
        .values(status=SENDING, attempts=Notification.attempts + 1,
                next_attempt_at=now + timedelta(seconds=float(config["NOTIFY_CLAIM_SECONDS"])))
        .execution_options(synchronize_session=False))
    db.session.commit()
    return claimed.rowcount == 1


def _record(notification_id: int, now: datetime, error: str | None, adapter: str,
            config: Mapping[str, Any]) -> str:
    row = db.session.get(Notification, notification_id)
    row.adapter = adapter
    if error is None:
        row.status, row.sent_at, row.last_error = SENT, now, None
        outcome = SENT
    elif row.attempts >= int(config["NOTIFY_MAX_ATTEMPTS"]):
        row.status, row.last_error = FAILED, error
        outcome = FAILED
        log.warning("notification %s to %s failed for good after %d attempts: %s", row.id,
                    mask_recipient(row.recipient), row.attempts, error)
    else:
        delay = min(float(config["NOTIFY_BACKOFF_SECONDS"]) * 2 ** (row.attempts - 1),
                    float(config["NOTIFY_BACKOFF_MAX_SECONDS"]))
        row.status, row.last_error = PENDING, error
        row.next_attempt_at = now + timedelta(seconds=delay)
        outcome = "retrying"
        log.info("notification %s to %s failed (attempt %d), retry at %s: %s", row.id,
                 mask_recipient(row.recipient), row.attempts, row.next_attempt_at.isoformat(), error)
    db.session.commit()
    return outcome


@pass_context
def _local_time(context, value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(ZoneInfo(context["_timezone"])).strftime("%d.%m.%Y %H:%M")


def _dmy(value: Any) -> str:
    return as_date(value).strftime("%d.%m.%Y")


_environment = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates" / "notifications"),
    autoescape=False,  # plain text, never shown as HTML
    undefined=StrictUndefined,  # a value missing from the case data is an error in the step
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
)
_environment.filters["dmy"] = _dmy


def _titled(data: Mapping[str, Any], language: str) -> dict:
    """Grounds with their titles in the recipient's language (the stored title is English)."""
    from . import evidence, i18n
    from .grounds import REFUSAL_GROUNDS, REVOCATION_GROUNDS
    gettext = i18n.gettext_for(language)
    result = dict(data)
    if isinstance(data.get("grounds"), list):
        result["grounds"] = []
        for ground in data["grounds"]:
            known = REFUSAL_GROUNDS.get(ground.get("code")) if isinstance(ground, Mapping) else None
            known = known or (REVOCATION_GROUNDS.get(ground.get("code")) if isinstance(ground, Mapping) else None)
            if known:
                ground = dict(ground, title=gettext(known.title),
                              evidence=evidence.localised(ground, language, gettext) or ground.get("evidence"))
            result["grounds"].append(ground)
    if isinstance(data.get("task_name"), str):
        step_name = data["task_name"]
        result["task_name"] = gettext(step_name)  # a step's name from its diagram
    if isinstance(data.get("ground_title"), str):
        english = data["ground_title"]
        result["ground_title"] = gettext(english)  # a ground's English title is a message id
    return result
_environment.filters["local_time"] = _local_time


@retention.sweeper("notifications")
def remove_delivered(session, now, config, limit) -> int:
    """Delivered notifications past RETENTION_NOTIFICATION_DAYS (the audit log keeps the event)."""
    before = now - timedelta(days=config["RETENTION_NOTIFICATION_DAYS"])
    rows = session.execute(sa.select(Notification.id, Notification.instance_id, Notification.data).where(
        Notification.status == SENT, Notification.next_attempt_at < before,
        Notification.sent_at < before).limit(limit)).all()
    if not rows:
        return 0
    going = {row.id: row.data for row in rows}
    # A row of the same send that stays (not delivered yet, say) keeps the parameters it shares.
    staying = session.execute(sa.select(Notification).where(
        Notification.instance_id.in_({row.instance_id for row in rows if row.instance_id}),
        Notification.id.not_in(going))).scalars()
    for row in staying:
        data = row.data or {}
        if isinstance(data, dict) and set(data) == {SAME_AS} and data[SAME_AS] in going:
            row.data = dict(going[data[SAME_AS]])
    session.flush()
    return session.execute(sa.delete(Notification).where(Notification.id.in_(list(going)))).rowcount
