"""Messages: routed by our own subscription rows, delivered with SpiffWorkflow's `send_event`.

A waiting message catch event, boundary event or receive task says which value of the case
it correlates on with a spiffworkflow property on the element (SpiffArena's editor shows it;
no collaboration correlation XML is needed):

    <spiffworkflow:property name="correlation" value="case_id" />

The value is an expression over the task's data, checked by the expression allowlist at
deploy and evaluated by the sandbox when the task starts waiting. Without the property the
instance id is the correlation. The payload lands in the task data under the event's
`spiffworkflow:messageVariable`, else under the message name.

Three tables:
- `message_subscription` — the live index: (name, correlation) → instance, task; one row
  per waiting task, written and removed by `sync` whenever the instance is saved.
- `correlation_key` — every (name, correlation, instance) that waited, written when the wait
  ends (while it lasts, its subscription says the same) and kept, so a late message
  ("not_waiting") is told apart from an unknown case ("not_found"); a correlation that is the
  instance's own id needs no key (`_known_instance` finds the instance by it).
- `message_receipt` — the first result per message id, so a resent message is processed once.

`deliver` runs one engine step of the receiving instance in the caller's transaction; from a
service task (`messages.send`) that is the sender's own transaction. A message name can also
start an instance (`start_on_message`) when no instance waits for it.
"""
from __future__ import annotations

import copy
import json
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from typing import Callable

import sqlalchemy as sa
from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as _AnyMessage
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from . import audit, clock, instances
from .db import UTCDateTime, db
from .exceptions import Conflict, EngineError, InvalidData
from .operators import operator
from .script_engine import current_step

CORRELATION_PROPERTY = "correlation"
DELIVERED, NOT_FOUND, NOT_WAITING, DUPLICATE = "delivered", "not_found", "not_waiting", "duplicate"
MAX_KEY_LENGTH = 200


class MessageSubscription(db.Model):
    __tablename__ = "message_subscription"
    __table_args__ = (
        sa.UniqueConstraint("name", "correlation", "instance_id", "task_id", name="uq_message_subscription"),
        sa.Index("ix_message_subscription_instance", "instance_id", "task_id"),
    )

    id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    name = sa.Column(sa.String(MAX_KEY_LENGTH), nullable=False)
    correlation = sa.Column(sa.String(MAX_KEY_LENGTH), nullable=False)
    instance_id = sa.Column(sa.String(36), sa.ForeignKey("process_instance.id"), nullable=False)
    task_id = sa.Column(sa.String(36), nullable=False)
    bpmn_id = sa.Column(sa.String(200), nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False)

    def as_dict(self):
        return {"name": self.name, "correlation": self.correlation, "instance_id": self.instance_id,
                "task_id": self.task_id, "bpmn_id": self.bpmn_id, "created_at": self.created_at.isoformat()}


class CorrelationKey(db.Model):
    __tablename__ = "correlation_key"
    __table_args__ = (
        sa.UniqueConstraint("name", "correlation", "instance_id", name="uq_correlation_key"),
    )

    id = sa.Column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    name = sa.Column(sa.String(MAX_KEY_LENGTH), nullable=False)
    correlation = sa.Column(sa.String(MAX_KEY_LENGTH), nullable=False)
    instance_id = sa.Column(sa.String(36), sa.ForeignKey("process_instance.id"), nullable=False,
                            index=True)
    first_at = sa.Column(UTCDateTime, nullable=False, index=True)


class MessageReceipt(db.Model):
    __tablename__ = "message_receipt"
    __table_args__ = (sa.Index("ix_message_receipt_at", "at"),)

    message_id = sa.Column(sa.String(MAX_KEY_LENGTH), primary_key=True)
    name = sa.Column(sa.String(MAX_KEY_LENGTH), nullable=False)
    correlation = sa.Column(sa.String(MAX_KEY_LENGTH), nullable=False)
    status = sa.Column(sa.String(20), nullable=False)
    instance_id = sa.Column(sa.String(36))
    detail = sa.Column(sa.Text)
    at = sa.Column(UTCDateTime, nullable=False)

    def as_dict(self):
        return {"message_id": self.message_id, "name": self.name, "correlation": self.correlation,
                "status": self.status, "instance_id": self.instance_id, "detail": self.detail,
                "at": self.at.isoformat()}


@dataclass(frozen=True)
class Delivery:
    """What became of a message. For a duplicate, `first_status` is the first delivery's result."""

    status: str
    instance_id: str | None = None
    message_id: str | None = None
    first_status: str | None = None
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MessageStart:
    process_id: str
    data_from_payload: Callable[[dict], dict] | None = None


def deliver(name: str, correlation: str, payload: dict, message_id: str | None = None,
            actor: str = "system", commit: bool = True) -> Delivery:
    """Deliver a message to the instance waiting for (name, correlation), run it on, and say what happened.

    - "delivered": an instance caught it (or one was started for it, see `start_on_message`);
    - "not_waiting": the case is known but no longer waits (a late reply); audited;
    - "not_found": no instance ever waited with this correlation; audited;
    - "duplicate": `message_id` was seen before; nothing is done, `first_status` says what was.

    `commit=False` runs in the caller's transaction (a step of another instance, say); the caller
    commits or rolls back. Two messages racing for one wait: one is delivered, the other finds
    the wait gone (after one retry if it lost the instance's optimistic lock).
    """
    name, correlation = _key(name, "name"), _key(correlation, "correlation")
    payload = _checked_payload(payload)
    if message_id is not None:
        message_id = _key(message_id, "message_id")
    try:
        return _deliver_once(name, correlation, payload, message_id, actor, commit)
    except Conflict:
        if not commit:
            raise
    return _deliver_once(name, correlation, payload, message_id, actor, commit)


def handle(name: str, correlation: str, message_id: str, action: Callable[[], Delivery],
           actor: str = "system", payload: dict | None = None) -> Delivery:
    """Act on a message that no instance waits for (one that opens a case, say) at most once per
    message id, with the same receipt as `deliver`: claimed before `action` runs, settled with
    its result and committed with whatever `action` wrote, in one transaction.

    `action()` writes without committing and returns the result: "delivered" (with the instance
    it started or told), or a refusal ("not_found", "not_waiting", with a detail), which is
    audited as `message_refused` (with `payload`) and remembered like a delivery. A message id seen before, or
    sent concurrently (on PostgreSQL the second insert of the receipt waits for the first
    transaction), answers "duplicate" with the first result, and `action` does not run. An
    exception from `action` rolls everything back, the receipt too: the message may be resent.
    """
    name, correlation, message_id = _key(name, "name"), _key(correlation, "correlation"), \
        _key(message_id, "message_id")
    try:
        first = _claim_receipt(message_id, name, correlation)
        if first is not None:
            return _duplicate(first)
        result = action()
        if not isinstance(result, Delivery) or result.status == DUPLICATE:
            raise TypeError(f"the action on {name!r} must return a Delivery, not {result!r}")
        result = replace(result, message_id=message_id)
        if result.status != DELIVERED:
            _refused(result.status, result.instance_id, name, correlation, payload, message_id, actor,
                     result.detail)
        _settle_receipt(message_id, result)
        db.session.commit()
        return result
    except IntegrityError:
        db.session.rollback()
        first = receipt(message_id)
        if first is not None:  # a concurrent message with the same id won
            return _duplicate(first)
        raise
    except BaseException:
        db.session.rollback()
        raise


def start_on_message(name: str, process_id: str,
                     data_from_payload: Callable[[dict], dict] | None = None) -> None:
    """Start `process_id` when message `name` arrives and no instance waits for it.

    The new instance's data is `data_from_payload(payload)`, by default `{name: payload}`.
    """
    known = _STARTS.get(name)
    start = MessageStart(process_id, data_from_payload)
    if known is not None and known != start:
        raise ValueError(f"message {name!r} already starts {known.process_id!r}")
    _STARTS[name] = start


def sync(row, workflow, is_new: bool = False) -> None:
    """Make the subscriptions match the workflow's waiting message tasks (called by `instances.save`).

    An instance in an incident keeps its subscriptions: a reply that arrives meanwhile is
    caught and runs on after the retry, rather than being lost.
    """
    before = set() if is_new else _subscribed_task_ids(row, workflow)
    waiting = {} if row.status in (instances.COMPLETED, instances.TERMINATED) else _waiting_message_tasks(workflow)
    gone = before - waiting.keys()
    now = clock.now()
    if gone:
        ended = db.session.execute(sa.select(MessageSubscription.name, MessageSubscription.correlation).where(
            MessageSubscription.instance_id == row.id, MessageSubscription.task_id.in_(gone))).all()
        # Synchronized: SQLite reuses the deleted rows' ids for the subscriptions added below.
        db.session.execute(sa.delete(MessageSubscription).where(
            MessageSubscription.instance_id == row.id, MessageSubscription.task_id.in_(gone)))
        for name, correlation in dict.fromkeys(ended):  # the wait ended: remember who waited
            if correlation != row.id:  # an instance's own id names it without a key
                _remember_key(name, correlation, row.id, now)
    subscribed = before & waiting.keys()
    for task_id, task in waiting.items():
        if task_id in subscribed:
            continue
        correlation = _correlation_of(row, workflow, task)
        if correlation is None:
            continue
        name = task.task_spec.event_definition.name
        db.session.add(MessageSubscription(name=name, correlation=correlation, instance_id=row.id,
                                           task_id=task_id, bpmn_id=task.task_spec.bpmn_id, created_at=now))
        subscribed.add(task_id)
    workflow.message_subscriptions = subscribed


def subscriptions(instance_id: str) -> list[MessageSubscription]:
    return list(db.session.execute(sa.select(MessageSubscription).filter_by(instance_id=instance_id)
                                   .order_by(MessageSubscription.id)).scalars())


def receipt(message_id: str) -> MessageReceipt | None:
    return db.session.get(MessageReceipt, message_id)


@operator("messages.send", retry_on=(Conflict,), max_attempts=3, backoff_seconds=0.05)
def send(ctx, name, correlation, payload=None, message_id=None):
    """Tell another instance (or start one) from a service task, in the sender's transaction.

    The default message id is the sending task's id, so the send is idempotent. Returns the
    delivery (status, instance_id, ...) into the sender's data: the diagram decides what
    "not_waiting" or "not_found" means for it.
    """
    message_id = message_id or f"{ctx.instance_id}:{ctx.task_id}"
    return deliver(name, correlation, payload or {}, message_id=message_id, actor=ctx.actor,
                   commit=False).as_dict()


# --- delivery --------------------------------------------------------------------------------

# Instances being changed by the steps in this call stack: a message to one of them would be
# overwritten when the outer step saves its in-memory workflow.
_BUSY: ContextVar[frozenset] = ContextVar("messages_busy", default=frozenset())
_STARTS: dict[str, MessageStart] = {}


def _deliver_once(name, correlation, payload, message_id, actor, commit) -> Delivery:
    token = _BUSY.set(_busy())
    try:
        if message_id is not None:
            first = _claim_receipt(message_id, name, correlation)
            if first is not None:
                return _duplicate(first)
        subscription = db.session.execute(
            sa.select(MessageSubscription).filter_by(name=name, correlation=correlation)
            .order_by(MessageSubscription.id).limit(1)).scalar_one_or_none()
        if subscription is not None:
            return _deliver_to(subscription, payload, message_id, actor, commit)
        if name in _STARTS:
            result = _start(_STARTS[name], name, correlation, payload, message_id, actor)
        else:
            _refuse_if_not_ready(name, correlation)
            result = _refuse(name, correlation, payload, message_id, actor)
        _settle_receipt(message_id, result)
        if commit:
            db.session.commit()
        else:
            db.session.flush()
        return result
    except StaleDataError as err:
        if commit:
            db.session.rollback()
        raise Conflict(f"the instance receiving {name!r} was changed by someone else") from err
    except IntegrityError:
        if commit:
            db.session.rollback()
            first = receipt(message_id) if message_id is not None else None
            if first is not None:  # a concurrent delivery of the same message id won
                return _duplicate(first)
        raise
    except BaseException:
        if commit:
            db.session.rollback()
        raise
    finally:
        _BUSY.reset(token)


def _deliver_to(subscription, payload, message_id, actor, commit) -> Delivery:
    name, correlation, instance_id = subscription.name, subscription.correlation, subscription.instance_id
    busy = _BUSY.get()
    if instance_id in busy:
        raise RuntimeError(f"instance {instance_id} is being changed by this very step and cannot "
                           f"receive {name!r} in it")
    token = _BUSY.set(busy | {instance_id})
    try:
        with instances.step(instance_id, actor, commit=commit) as (row, workflow):
            caught = _catch(workflow, subscription.task_id, name, payload)
            if caught:
                # A correlation that is the instance's own id (the default) is the event's instance_id.
                details = {"name": name, "correlation": correlation, "message_id": message_id,
                           "task": subscription.bpmn_id, "payload": payload}
                if correlation == row.id:
                    del details["correlation"]
                audit.record("message_delivered", actor=actor, instance_id=row.id, task_id=subscription.task_id,
                             details=details)
                result = Delivery(DELIVERED, row.id, message_id, detail=f"caught by {subscription.bpmn_id}")
            else:  # the index said it waits; the workflow disagrees (the save corrects the index)
                result = _refused(NOT_WAITING, row.id, name, correlation, payload, message_id, actor,
                                  f"{subscription.bpmn_id} no longer waits for {name!r}")
            _settle_receipt(message_id, result)
    finally:
        _BUSY.reset(token)
    if not commit:
        db.session.flush()  # a lost optimistic lock shows here, as the sender's handler error
    return result


def _catch(workflow, task_id, name, payload) -> bool:
    """Hand the payload to the waiting task through SpiffWorkflow's own event path."""
    waiting = _waiting_message_tasks(workflow)
    task = waiting.get(task_id)
    if task is None or task.task_spec.event_definition.name != name:
        return False
    # Routing is done by our rows; the event carries the workflow's own correlations so that a
    # diagram that also declares SpiffWorkflow correlation keys accepts it too.
    event = BpmnEvent(MessageEventDefinition(name), copy.deepcopy(payload),
                      copy.deepcopy(task.workflow.correlations))
    if not task.task_spec.catches(task, event):
        return False
    same_name = [t for t in waiting.values() if t.task_spec.event_definition.name == name]
    try:
        workflow.send_event(event)
    except WorkflowException:
        return False
    for caught in same_name:
        if caught.state != TaskState.WAITING and getattr(caught.task_spec.event_definition, "message_var", None) is None:
            caught.data[name] = copy.deepcopy(payload)
    return True


def _start(start: MessageStart, name, correlation, payload, message_id, actor) -> Delivery:
    data = start.data_from_payload(copy.deepcopy(payload)) if start.data_from_payload else {name: copy.deepcopy(payload)}
    row = instances.start(start.process_id, data, actor=actor, commit=False)
    audit.record("message_delivered", actor=actor, instance_id=row.id,
                 details={"name": name, "correlation": correlation, "message_id": message_id,
                          "started": start.process_id, "payload": payload})
    return Delivery(DELIVERED, row.id, message_id, detail=f"started {start.process_id}")


class NotWaitingYet(EngineError):
    """The case will wait for this message once a job of its own has run (a reply that overtook
    the request it answers): nothing is recorded, the sender tries again shortly."""
    status = 503
    retry_after = 5


def _refuse_if_not_ready(name, correlation) -> None:
    from . import jobs
    from .instances import IN_PROGRESS, ProcessInstance
    instance_id = _known_instance(name, correlation)
    if instance_id is None:
        return
    row = db.session.get(ProcessInstance, instance_id)
    if row is not None and row.status == IN_PROGRESS and jobs.pending_for(instance_id):
        raise NotWaitingYet(f"the case does not wait for {name!r} yet (a step of its own is still being "
                            f"run); nothing was recorded, send the message again shortly")


def _refuse(name, correlation, payload, message_id, actor) -> Delivery:
    instance_id = _known_instance(name, correlation)
    if instance_id is None:
        return _refused(NOT_FOUND, None, name, correlation, payload, message_id, actor,
                        f"no instance waits or waited for {name!r} with correlation {correlation!r}")
    return _refused(NOT_WAITING, instance_id, name, correlation, payload, message_id, actor,
                    f"instance {instance_id} no longer waits for {name!r}")


def _refused(status, instance_id, name, correlation, payload, message_id, actor, detail) -> Delivery:
    audit.record("message_refused", actor=actor, instance_id=instance_id,
                 details={"name": name, "correlation": correlation, "message_id": message_id,
                          "status": status, "detail": detail, "payload": payload})
    return Delivery(status, instance_id, message_id, detail=detail)


def _known_instance(name, correlation) -> str | None:
    """The instance that waits for (name, correlation), else the one whose wait for it ended
    last; else the instance whose id it is."""
    found = db.session.execute(
        sa.select(MessageSubscription.instance_id).filter_by(name=name, correlation=correlation)
        .order_by(MessageSubscription.id.desc()).limit(1)).scalar()
    if found is None:
        found = db.session.execute(
            sa.select(CorrelationKey.instance_id).filter_by(name=name, correlation=correlation)
            .order_by(CorrelationKey.id.desc()).limit(1)).scalar()
    if found is None and db.session.get(instances.ProcessInstance, correlation) is not None:
        found = correlation
    return found


def _claim_receipt(message_id, name, correlation) -> MessageReceipt | None:
    """Write a pending receipt (the first result is settled before commit); the earlier one if any.

    On PostgreSQL a concurrent delivery of the same id waits on the insert until the first
    commits, so a resent message does not run the receiving instance's handlers twice.
    """
    first = receipt(message_id)
    if first is not None:
        return first
    try:
        with db.session.begin_nested():
            db.session.add(MessageReceipt(message_id=message_id, name=name, correlation=correlation,
                                          status="pending", at=clock.now()))
    except IntegrityError:
        first = db.session.execute(sa.select(MessageReceipt).filter_by(message_id=message_id)
                                   .execution_options(populate_existing=True)).scalar_one_or_none()
        if first is None:
            raise
        return first
    return None


def _settle_receipt(message_id, result: Delivery) -> None:
    if message_id is None:
        return
    row = receipt(message_id)
    row.status, row.instance_id, row.detail = result.status, result.instance_id, result.detail[:2000]


def _duplicate(first: MessageReceipt) -> Delivery:
    return Delivery(DUPLICATE, first.instance_id, first.message_id, first_status=first.status,
                    detail=f"already received at {first.at.isoformat()}: {first.detail or first.status}")


def _busy() -> frozenset:
    step = current_step.get()
    busy = _BUSY.get()
    return busy | {step.instance_id} if step is not None and step.instance_id else busy


# --- subscriptions ---------------------------------------------------------------------------

def _waiting_message_tasks(workflow) -> dict:
    # SpiffWorkflow's event manager holds exactly the waiting catch events (subprocesses included).
    return {str(t.id): t for t in list(workflow.event_manager.tasks.values())
            if t.state == TaskState.WAITING and isinstance(t.task_spec.event_definition, _AnyMessage)}


def _subscribed_task_ids(row, workflow) -> set:
    """The task ids the index holds for this instance: remembered by the last save, else read."""
    known = getattr(workflow, "message_subscriptions", None)
    if known is not None:
        return set(known)
    return set(db.session.execute(sa.select(MessageSubscription.task_id)
                                  .filter_by(instance_id=row.id)).scalars())


def _correlation_of(row, workflow, task) -> str | None:
    """The task's correlation value; a failing expression puts the instance into an incident."""
    expression = ((task.task_spec.extensions or {}).get("properties") or {}).get(CORRELATION_PROPERTY)
    if not expression:
        return row.id
    try:
        value = workflow.script_engine.evaluate(task, expression)
        if value is None or isinstance(value, (dict, list, tuple, set, bool)) or str(value) == "":
            raise ValueError(f"correlation {expression!r} evaluated to {value!r}; expected a string or number")
        value = str(value)
        if len(value) > MAX_KEY_LENGTH:
            raise ValueError(f"correlation {expression!r} is longer than {MAX_KEY_LENGTH} characters")
        return value
    except Exception as err:
        if row.status != instances.INCIDENT:
            if not isinstance(err, WorkflowException):
                err = WorkflowTaskException(f"{type(err).__name__}: {err}", task=task, exception=err)
            step = current_step.get()
            instances._raise_incident(row, workflow, err, step.actor if step is not None else "system")
        return None


def _remember_key(name, correlation, instance_id, now) -> None:
    exists = db.session.execute(sa.select(CorrelationKey.id).filter_by(
        name=name, correlation=correlation, instance_id=instance_id).limit(1)).scalar()
    if exists is None:
        db.session.add(CorrelationKey(name=name, correlation=correlation, instance_id=instance_id,
                                      first_at=now))


# --- input checks ----------------------------------------------------------------------------

def _key(value, field) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidData(f"the message {field} must be a string", {field: ["expected a string"]})
    value = str(value)
    if not value or len(value) > MAX_KEY_LENGTH:
        raise InvalidData(f"the message {field} must have 1 to {MAX_KEY_LENGTH} characters",
                          {field: [f"1 to {MAX_KEY_LENGTH} characters"]})
    return value


def _checked_payload(payload) -> dict:
    if not isinstance(payload, dict):
        raise InvalidData("the message payload must be an object", {"payload": ["expected an object"]})
    try:
        return json.loads(json.dumps(payload))  # a private copy, and proof it can be stored
    except (TypeError, ValueError) as err:
        raise InvalidData("the message payload must be JSON", {"payload": [str(err)]}) from err


instances.register_index(instances.Index("message_subscriptions", order=3, sync=sync))
