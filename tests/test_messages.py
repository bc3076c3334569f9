"""Messages: a reply reaches the case waiting for it, once; late, unknown and resent replies are told apart."""
import threading

import pytest
import sqlalchemy as sa

import tests.message_operators as ops
from engine import audit, definitions, instances, messages
from engine.db import db
from engine.definitions import DeployError
from engine.exceptions import InvalidData
from tests.conftest import TESTS_DIR

BPMN = TESTS_DIR / "bpmn"
DIAGRAMS = ("message_police", "message_ack", "message_permit", "message_revocation")


def deploy_message_diagrams(app):
    for name in DIAGRAMS:
        definitions.deploy_file(BPMN / f"{name}.bpmn", app.config, actor="analyst")


@pytest.fixture
def messaging(app):
    deploy_message_diagrams(app)
    ops.register_timeouts["remaining"] = 0
    ops.register_calls.clear()
    return app


def police_check(case_id):
    return instances.start("message_police_check", {"case_id": case_id}, actor="portal")


def data_of(instance_id):
    return instances.current_data(instances.peek(instances.get(instance_id)))


def events(instance_id):
    return [e.event for e in audit.trail(instance_id)]


def test_a_police_reply_reaches_the_case_it_correlates_with(messaging):
    first, second = police_check("C-1"), police_check("C-2")
    delivery = messages.deliver("police_reply", "C-2", {"clean": True}, message_id="police-1", actor="police")
    assert (delivery.status, delivery.instance_id, delivery.message_id) == ("delivered", second.id, "police-1")
    assert instances.get(second.id).status == "completed"
    assert data_of(second.id)["police_reply"] == {"clean": True}
    assert data_of(second.id)["registered"] == {"case_id": "C-2", "registered": True}
    assert instances.get(first.id).status == "in_progress"
    delivered = [e for e in audit.trail(second.id) if e.event == "message_delivered"]
    assert [(e.actor, e.details["name"], e.details["correlation"], e.details["payload"]) for e in delivered] == [
        ("police", "police_reply", "C-2", {"clean": True})]


def test_a_waiting_case_has_one_subscription_gone_when_the_wait_ends_and_its_key_is_kept(messaging):
    row = police_check("C-7")
    [sub] = messages.subscriptions(row.id)
    assert (sub.name, sub.correlation, sub.bpmn_id) == ("police_reply", "C-7", "wait_reply")
    key_rows = sa.select(messages.CorrelationKey.name, messages.CorrelationKey.correlation,
                         messages.CorrelationKey.instance_id)
    assert db.session.execute(key_rows).all() == []  # while it waits, its subscription says so
    messages.deliver("police_reply", "C-7", {"clean": False})
    assert messages.subscriptions(row.id) == []
    assert db.session.execute(key_rows).all() == [("police_reply", "C-7", row.id)]
    late = messages.deliver("police_reply", "C-7", {"clean": True}, message_id="police-late")
    assert (late.status, late.instance_id) == ("not_waiting", row.id)


def test_a_finished_instances_keys_go_after_their_period_and_its_own_id_needs_none(messaging):
    from datetime import timedelta
    from engine import retention
    row = police_check("C-8")
    own = instances.start("message_ack", {}, actor="portal")  # waits on its own id
    messages.deliver("police_reply", "C-8", {"clean": True})
    assert messages.deliver("ack", own.id, {}).status == "delivered"
    keys = lambda: db.session.execute(sa.select(messages.CorrelationKey.correlation)).scalars().all()  # noqa: E731
    assert keys() == ["C-8"]  # the acknowledgement's wait was on the instance's id: no key
    assert messages.deliver("ack", own.id, {}, message_id="ack-late").status == "not_waiting"
    finished = instances.get(row.id).completed_at
    days = messaging.config["RETENTION_CORRELATION_KEY_DAYS"]
    retention.run(now=finished + timedelta(days=days - 1))
    assert keys() == ["C-8"]
    retention.run(now=finished + timedelta(days=days + 1))
    assert keys() == []
    late = messages.deliver("police_reply", "C-8", {"clean": True}, message_id="police-later")
    assert late.status == "not_found"  # past its period the case is forgotten for this message


def test_a_reply_for_an_unknown_case_is_not_found_and_recorded(messaging):
    police_check("C-1")
    delivery = messages.deliver("police_reply", "C-404", {"clean": True}, message_id="police-404", actor="police")
    assert (delivery.status, delivery.instance_id) == ("not_found", None)
    refused = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="message_refused")).scalar_one()
    assert refused.instance_id is None and refused.details["status"] == "not_found"
    assert messages.receipt("police-404").status == "not_found"


def test_a_late_reply_after_the_wait_ended_is_not_waiting_and_recorded_on_the_case(messaging):
    row = police_check("C-1")
    messages.deliver("police_reply", "C-1", {"clean": False}, message_id="police-1")
    version = instances.get(row.id).version
    late = messages.deliver("police_reply", "C-1", {"clean": True}, message_id="police-2", actor="police")
    assert (late.status, late.instance_id) == ("not_waiting", row.id)
    assert instances.get(row.id).version == version, "a refused message changes nothing"
    assert data_of(row.id)["police_reply"] == {"clean": False}
    refused = [e for e in audit.trail(row.id) if e.event == "message_refused"]
    assert [(e.actor, e.details["status"], e.details["message_id"], e.details["payload"]) for e in refused] == [
        ("police", "not_waiting", "police-2", {"clean": True})]


def test_a_resent_message_is_processed_once_and_answered_with_the_first_result(messaging):
    row = police_check("C-1")
    first = messages.deliver("police_reply", "C-1", {"clean": True}, message_id="police-1")
    again = messages.deliver("police_reply", "C-1", {"clean": True}, message_id="police-1")
    assert first.status == "delivered"
    assert (again.status, again.first_status, again.instance_id) == ("duplicate", "delivered", row.id)
    assert ops.register_calls == ["C-1"]
    assert events(row.id).count("message_delivered") == 1
    assert events(row.id).count("message_refused") == 0


def test_a_resent_unknown_message_stays_not_found_even_once_the_case_waits(messaging):
    assert messages.deliver("police_reply", "C-9", {"clean": True}, message_id="early").status == "not_found"
    row = police_check("C-9")
    again = messages.deliver("police_reply", "C-9", {"clean": True}, message_id="early")
    assert (again.status, again.first_status) == ("duplicate", "not_found")
    assert instances.get(row.id).status == "in_progress"


def test_without_a_correlation_property_the_instance_id_correlates_and_the_message_name_holds_the_payload(messaging):
    row = instances.start("message_ack", {})
    assert [s.correlation for s in messages.subscriptions(row.id)] == [row.id]
    assert messages.deliver("ack", row.id, {"seen": "yes"}).status == "delivered"
    assert instances.get(row.id).status == "completed"
    assert instances.peek(instances.get(row.id)).data["ack"] == {"seen": "yes"}


def test_two_replies_racing_for_one_wait_exactly_one_is_delivered(messaging):
    row_id = police_check("C-1").id
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes = []

    def reply(n):
        with messaging.app_context():
            barrier.wait()
            try:
                outcomes.append(messages.deliver("police_reply", "C-1", {"clean": False, "n": n},
                                                 message_id=f"police-{n}").status)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=reply, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["delivered", "not_waiting"]
    assert events(row_id).count("message_delivered") == 1
    assert events(row_id).count("message_refused") == 1


def test_the_same_message_resent_concurrently_is_processed_once(messaging):
    row_id = police_check("C-1").id
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes = []

    def reply():
        with messaging.app_context():
            barrier.wait()
            try:
                outcomes.append(messages.deliver("police_reply", "C-1", {"clean": True}, message_id="police-1"))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=reply) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(d.status for d in outcomes) == ["delivered", "duplicate"]
    assert [d.first_status for d in outcomes if d.status == "duplicate"] == ["delivered"]
    assert ops.register_calls == ["C-1"]
    assert events(row_id).count("message_delivered") == 1


def test_a_revocation_tells_the_permit_instance_in_its_own_transaction(messaging):
    permit = instances.start("message_permit_validity", {"permit_no": "P-1"})
    revocation = instances.start("message_revocation", {"permit_no": "P-1", "reason": "fraud"}, commit=False)
    assert instances.get(permit.id).status == "completed"
    db.session.rollback()  # the revocation never happened: neither did the permit's revocation
    assert instances.get(permit.id).status == "in_progress"
    assert [s.bpmn_id for s in messages.subscriptions(permit.id)] == ["await_revocation"]

    revocation = instances.start("message_revocation", {"permit_no": "P-1", "reason": "fraud"})
    told = data_of(revocation.id)["told"]
    assert (told["status"], told["instance_id"]) == ("delivered", permit.id)
    assert instances.get(revocation.id).status == "completed"
    assert instances.get(permit.id).status == "completed"
    assert data_of(permit.id)["revocation"] == {"reason": "fraud"}


def test_a_revocation_for_a_permit_nobody_waits_on_learns_it_from_the_delivery(messaging):
    revocation = instances.start("message_revocation", {"permit_no": "P-404", "reason": "fraud"})
    assert data_of(revocation.id)["told"]["status"] == "not_found"
    assert instances.get(revocation.id).status == "completed"


def test_a_terminated_contract_starts_a_revocation_that_revokes_the_permit_once(messaging):
    permit = instances.start("message_permit_validity", {"permit_no": "P-2"})
    delivery = messages.deliver("msgtest_contract_terminated", "K-1", {"permit_no": "P-2"}, message_id="esutd-1")
    assert delivery.status == "delivered" and delivery.detail == "started message_revocation"
    revocation = instances.get(delivery.instance_id)
    assert (revocation.process_id, revocation.status) == ("message_revocation", "completed")
    assert data_of(permit.id)["revocation"] == {"reason": "contract terminated"}
    again = messages.deliver("msgtest_contract_terminated", "K-1", {"permit_no": "P-2"}, message_id="esutd-1")
    assert (again.status, again.instance_id) == ("duplicate", revocation.id)
    started = db.session.execute(sa.select(sa.func.count()).select_from(instances.ProcessInstance)
                                 .filter_by(process_id="message_revocation")).scalar()
    assert started == 1


def test_an_instance_cannot_be_sent_a_message_by_its_own_running_step(messaging):
    permit = instances.start("message_permit_validity", {"permit_no": "P-3"})
    with pytest.raises(RuntimeError, match="being changed by this very step"):
        with instances.step(permit.id, "clerk") as _:
            messages.deliver("permit_revoked", "P-3", {"reason": "loop"}, commit=False)
    assert instances.get(permit.id).status == "in_progress"


def test_a_correlation_that_cannot_be_evaluated_puts_the_instance_into_an_incident(messaging):
    row = instances.start("message_police_check", {"subject": "no case id"})
    assert row.status == "incident"
    assert row.incident_task_name == "Police reply received"
    assert "case_id" in row.incident_message
    assert messages.subscriptions(row.id) == []


@pytest.mark.parametrize("payload", [["not", "an", "object"], {"when": object()}])
def test_a_payload_that_is_not_a_json_object_is_refused(messaging, payload):
    police_check("C-1")
    with pytest.raises(InvalidData):
        messages.deliver("police_reply", "C-1", payload)


def test_deploy_refuses_an_unsafe_correlation_and_a_message_no_one_would_receive(app):
    import tests.message_operators  # noqa: F401
    police = (BPMN / "message_police.bpmn").read_bytes()
    unsafe = police.replace(b'value="case_id" />', b'value="().__class__" />')
    with pytest.raises(DeployError) as caught:
        definitions.deploy("unsafe.bpmn", unsafe, {}, app.config)
    assert any(p.element_id == "wait_reply" and p.reason.startswith("correlation:") for p in caught.value.problems)
    thrown = (BPMN / "message_ack.bpmn").read_bytes().replace(b"intermediateCatchEvent", b"intermediateThrowEvent")
    with pytest.raises(DeployError) as caught:
        definitions.deploy("thrown.bpmn", thrown, {}, app.config)
    assert [(p.element_id, "messages.send" in p.reason) for p in caught.value.problems] == [("wait_ack", True)]


def _lose_the_lock_once(monkeypatch):
    """Another writer changes the receiving instance while the first delivery attempt runs."""
    real_catch, lost = messages._catch, []

    def catch(workflow, task_id, name, payload):
        lost.append("attempt")
        if lost.count("attempt") == 1:
            instance_id = db.session.execute(sa.select(messages.MessageSubscription.instance_id)
                                             .filter_by(task_id=task_id)).scalar()
            db.session.execute(sa.update(instances.ProcessInstance).where(instances.ProcessInstance.id == instance_id)
                               .values(version=instances.ProcessInstance.version + 1)
                               .execution_options(synchronize_session=False))
            lost.append(instance_id)
        return real_catch(workflow, task_id, name, payload)

    monkeypatch.setattr(messages, "_catch", catch)
    return lost


def test_a_delivery_that_loses_the_instance_lock_is_retried_once(messaging, monkeypatch):
    row = police_check("C-1")
    lost = _lose_the_lock_once(monkeypatch)
    delivery = messages.deliver("police_reply", "C-1", {"clean": True}, message_id="police-1")
    assert lost == ["attempt", row.id, "attempt"]
    assert (delivery.status, delivery.instance_id) == ("delivered", row.id)
    assert instances.get(row.id).status == "completed"
    assert messages.receipt("police-1").status == "delivered"
    assert events(row.id).count("message_delivered") == 1


def test_a_message_between_instances_that_loses_the_lock_is_retried_by_the_sender(messaging, monkeypatch):
    monkeypatch.setattr("engine.script_engine.time.sleep", lambda s: None)
    permit = instances.start("message_permit_validity", {"permit_no": "P-1"})
    lost = _lose_the_lock_once(monkeypatch)
    revocation = instances.start("message_revocation", {"permit_no": "P-1", "reason": "fraud"})
    assert lost == ["attempt", permit.id, "attempt"]
    assert instances.get(revocation.id).status == "completed"
    assert data_of(revocation.id)["told"]["status"] == "delivered"
    assert instances.get(permit.id).status == "completed"
    assert events(permit.id).count("message_delivered") == 1


def test_a_cancelled_case_stops_waiting_and_a_later_message_is_not_waiting(messaging):
    permit = instances.start("message_permit_validity", {"permit_no": "P-5"})
    instances.cancel(permit.id, "clerk", "withdrawn")
    assert messages.subscriptions(permit.id) == []
    late = messages.deliver("permit_revoked", "P-5", {"reason": "fraud"})
    assert (late.status, late.instance_id) == ("not_waiting", permit.id)
