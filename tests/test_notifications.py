"""The notification outbox: written with the decision, sent afterwards, retried until it goes."""
import logging
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from engine import instances
from engine.db import db
from handlers import notifications
from handlers.notifications import Notification, NotificationFailed
from tests.test_operators_domain import APPLICANT_IIN, EMPLOYER_IIN, deploy_linear, step_context
from tests.test_police import ScriptedServer

NOW = datetime(2026, 4, 1, 6, 0, tzinfo=timezone.utc)
ISSUED = {"permit_number": "ALA-2026-000001", "valid_from": "2026-04-01", "valid_to": "2027-03-31",
          "holder_name": "Karimov Aziz", "employer_name": "Nurlanova Aigerim"}
GROUND = {"code": "tax_underpaid", "title": "The tax prepaid does not cover the period",
          "evidence": "Short by 7 600 KZT."}
TEMPLATE_DATA = {
    "issued": ISSUED,
    "not_accepted": {"case_id": "c-1", "filed_on": "2026-03-20", "grounds": [GROUND]},
    "refused": {"case_id": "c-1", "service": "issue of a permit", "grounds": [GROUND]},
    "extended": {"permit_number": "ALA-2026-000001", "valid_to": "2026-12-31"},
    "lapsed": {"case_id": "c-2", "permit_number": "ALA-2026-000001", "deadline": "2026-06-05"},
    "revoked": {"permit_number": "ALA-2026-000001", "holder_name": "Karimov Aziz",
                "revoked_on": "2026-07-01", "ground_title": "The contract was terminated", "comment": ""},
    "expired": {"permit_number": "ALA-2026-000001", "valid_to": "2027-03-31"},
    "escalation": {"case_id": "c-3", "region": "ALA", "task_name": "Decide", "assignee": "aigul",
                   "due_at": "2026-03-27T18:59:59+00:00"},
    "reminder": {"case_id": "c-3", "task_name": "Decide", "due_at": "2026-03-27T18:59:59+00:00"},
}


@pytest.fixture(autouse=True)
def at_now():
    """Notifications are queued at NOW; each sweep says its own time."""
    with time_machine.travel(NOW, tick=False):
        yield


class FlakyGateway:
    """Fails `failures` times, then delivers."""

    name = "test"

    def __init__(self, failures):
        self.failures, self.delivered = failures, []

    def deliver(self, message):
        if self.failures:
            self.failures -= 1
            raise NotificationFailed("gateway busy")
        self.delivered.append(message)


def queue_issued(app, recipients=None, case="case-1"):
    result = notifications.send(step_context(app, case), template="issued",
                                recipients=recipients or [{"channel": "egov", "to": APPLICANT_IIN}],
                                data=ISSUED)
    db.session.commit()
    return result


def only_row():
    return db.session.execute(sa.select(Notification)).scalar_one()


@pytest.mark.parametrize("template", notifications.TEMPLATES)
def test_every_outcome_has_a_template_with_a_subject_and_a_body(app, template):
    subject, body = notifications.render(template, TEMPLATE_DATA[template], app.config)
    assert subject and body.strip() and "{{" not in subject + body
    assert APPLICANT_IIN not in subject + body


def test_the_issued_notice_names_the_permit_and_its_dates(app):
    subject, body = notifications.render("issued", ISSUED, app.config)
    assert subject == "Your permit for a labour immigrant No. ALA-2026-000001 is issued"
    assert "from 01.04.2026 to 31.03.2027" in body


def test_the_escalation_shows_the_deadline_in_almaty_time(app):
    _, body = notifications.render("escalation", TEMPLATE_DATA["escalation"], app.config)
    assert "27.03.2026 23:59" in body and "assigned to aigul" in body


def test_a_value_missing_from_the_case_data_is_an_error_in_the_step(app):
    with pytest.raises(Exception, match="permit_number"):
        notifications.render("issued", {}, app.config)
    with pytest.raises(ValueError, match="unknown notification template"):
        notifications.render("congratulations", {}, app.config)


def test_the_operator_queues_one_pending_row_per_recipient(app):
    result = queue_issued(app, [{"channel": "egov", "to": APPLICANT_IIN},
                                {"channel": "egov", "to": EMPLOYER_IIN}])
    assert result["queued"] == 2 and len(result["notification_ids"]) == 2
    rows = db.session.execute(sa.select(Notification).order_by(Notification.id)).scalars().all()
    assert [(r.recipient, r.status, r.attempts, r.instance_id) for r in rows] == [
        (APPLICANT_IIN, "pending", 0, "case-1"), (EMPLOYER_IIN, "pending", 0, "case-1")]


def test_a_row_keeps_its_text_once_as_template_and_parameters_and_sends_it_in_the_recipients_language(app):
    queue_issued(app, [{"channel": "egov", "to": APPLICANT_IIN, "language": "kk"},
                       {"channel": "egov", "to": EMPLOYER_IIN, "language": "ru"}])
    raw = db.session.execute(sa.text("SELECT recipient, subject, body, language, template FROM notification "
                                     "ORDER BY id")).all()
    assert [(r.subject, r.body, r.language, r.template) for r in raw] == [(None, None, "kk", "issued"),
                                                                          (None, None, "ru", "issued")]
    db.session.remove()
    gateway = FlakyGateway(0)
    notifications.send_pending(NOW, adapter=gateway)
    by_recipient = {m["recipient"]: m for m in gateway.delivered}
    assert (by_recipient[APPLICANT_IIN]["subject"], by_recipient[APPLICANT_IIN]["body"]) == notifications.render(
        "issued", ISSUED, app.config, "kk")
    assert by_recipient[EMPLOYER_IIN]["subject"].startswith("Вам выдано разрешение")
    assert "01.04.2026" in by_recipient[EMPLOYER_IIN]["body"]


def test_the_recipients_of_one_send_share_its_parameters_kept_for_a_row_that_stays_after_retention(app):
    from engine import retention
    queue_issued(app, [{"channel": "egov", "to": APPLICANT_IIN, "language": "kk"},
                       {"channel": "egov", "to": EMPLOYER_IIN, "language": "ru"}])
    first, second = db.session.execute(sa.select(Notification).order_by(Notification.id)).scalars().all()
    assert first.data == ISSUED and second.data == {notifications.SAME_AS: first.id}  # stored once
    assert second.params == ISSUED and "01.04.2026" in second.body
    # The applicant's copy was delivered long ago; the employer's is still being retried.
    db.session.execute(sa.update(Notification).where(Notification.id == first.id).values(
        status=notifications.SENT, sent_at=NOW, next_attempt_at=NOW))
    db.session.commit()
    retention.run(now=NOW + timedelta(days=app.config["RETENTION_NOTIFICATION_DAYS"] + 1))
    db.session.remove()
    [left] = db.session.execute(sa.select(Notification)).scalars().all()
    assert left.recipient == EMPLOYER_IIN and left.data == ISSUED  # its parameters moved into it
    gateway = FlakyGateway(0)
    notifications.send_pending(NOW + timedelta(days=100), adapter=gateway)
    [message] = gateway.delivered
    assert (message["subject"], message["body"]) == notifications.render("issued", ISSUED, app.config, "ru")


def test_a_row_queued_with_its_text_is_sent_with_that_text(app):
    queue_issued(app)
    db.session.execute(sa.text("UPDATE notification SET subject = 'Stored subject', body = 'Stored body'"))
    db.session.commit()
    gateway = FlakyGateway(0)
    notifications.send_pending(NOW, adapter=gateway)
    assert [(m["subject"], m["body"]) for m in gateway.delivered] == [("Stored subject", "Stored body")]


def test_an_unknown_channel_is_refused(app):
    with pytest.raises(ValueError, match="unknown channel"):
        queue_issued(app, [{"channel": "pigeon", "to": APPLICANT_IIN}])


def test_the_notification_is_rolled_back_with_the_step_that_wrote_it(app, tmp_path):
    deploy_linear(app, tmp_path, "test_notify_then_fail", [
        {"id": "notify_holder", "operator": "notifications.send",
         "params": {"template": "'issued'", "recipients": "{'channel': 'egov', 'to': iin}", "data": "permit"},
         "result": "notified"},
    ])
    instances.start("test_notify_then_fail", {"iin": APPLICANT_IIN, "permit": ISSUED}, actor="t",
                    commit=False)
    count = sa.select(sa.func.count()).select_from(Notification)
    assert db.session.execute(count).scalar_one() == 1  # in the step's transaction
    db.session.rollback()  # the step does not commit
    assert db.session.execute(count).scalar_one() == 0


def test_a_failing_sender_is_retried_with_back_off_then_the_notification_is_sent(app):
    app.config.update(NOTIFY_BACKOFF_SECONDS=60, NOTIFY_BACKOFF_MAX_SECONDS=3600)
    queue_issued(app)
    gateway = FlakyGateway(failures=2)
    assert notifications.send_pending(NOW, adapter=gateway) == {"sent": 0, "retrying": 1, "failed": 0}
    row = only_row()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "NotificationFailed: gateway busy")
    assert row.next_attempt_at == NOW + timedelta(seconds=60)
    assert notifications.send_pending(NOW + timedelta(seconds=59), adapter=gateway)["retrying"] == 0  # not due
    notifications.send_pending(NOW + timedelta(seconds=60), adapter=gateway)
    db.session.expire_all()
    assert only_row().next_attempt_at == NOW + timedelta(seconds=60 + 120)  # doubled
    assert notifications.send_pending(NOW + timedelta(seconds=180), adapter=gateway)["sent"] == 1
    db.session.expire_all()
    row = only_row()
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 3, NOW + timedelta(seconds=180), None)
    assert len(gateway.delivered) == 1
    assert notifications.send_pending(NOW + timedelta(days=1), adapter=gateway)["sent"] == 0


def test_after_the_last_attempt_the_notification_stays_failed_for_an_operator(app):
    app.config.update(NOTIFY_MAX_ATTEMPTS=2, NOTIFY_BACKOFF_SECONDS=1)
    queue_issued(app)
    gateway = FlakyGateway(failures=10)
    notifications.send_pending(NOW, adapter=gateway)
    assert notifications.send_pending(NOW + timedelta(seconds=1), adapter=gateway)["failed"] == 1
    db.session.expire_all()
    assert only_row().status == "failed"
    assert notifications.send_pending(NOW + timedelta(days=1), adapter=gateway) == {"sent": 0, "retrying": 0, "failed": 0}


def test_a_sender_that_died_mid_send_leaves_the_row_to_be_retried_after_the_claim_expires(app):
    app.config.update(NOTIFY_CLAIM_SECONDS=300)
    queue_issued(app)
    assert notifications._claim(only_row().id, NOW, app.config) is True  # claimed, then the process died
    db.session.expire_all()
    assert only_row().status == "sending"
    gateway = FlakyGateway(failures=0)
    assert notifications.send_pending(NOW + timedelta(seconds=299), adapter=gateway)["sent"] == 0
    assert notifications.send_pending(NOW + timedelta(seconds=300), adapter=gateway)["sent"] == 1


def test_the_simulator_records_what_it_sends(app):
    notifications.SimulatedNotifier.sent.clear()
    queue_issued(app)
    assert notifications.send_pending(NOW)["sent"] == 1
    [message] = notifications.SimulatedNotifier.sent
    assert message["recipient"] == APPLICANT_IIN and message["template"] == "issued"
    db.session.expire_all()
    assert only_row().adapter == "simulator"


def test_the_http_gateway_gets_the_message_and_a_5xx_is_retried(app):
    queue_issued(app)
    with ScriptedServer([(503, {}, 0), (200, {"ok": True}, 0)]) as server:
        app.config.update(NOTIFY_ADAPTER="http", NOTIFY_URL=server.url + "notify")
        assert notifications.send_pending(NOW)["retrying"] == 1
        assert notifications.send_pending(NOW + timedelta(hours=1))["sent"] == 1
    assert [r["path"] for r in server.requests] == ["/notify", "/notify"]
    sent = server.requests[1]["json"]
    assert sent["recipient"] == APPLICANT_IIN and sent["channel"] == "egov"
    assert sent["subject"].startswith("Вам выдано разрешение") and server.requests[1]["headers"]["Idempotency-Key"]
    db.session.expire_all()
    assert only_row().last_error is None and only_row().adapter == "http"


def test_a_gateway_that_does_not_answer_in_time_is_a_failure_to_retry(app):
    queue_issued(app)
    with ScriptedServer([(200, {}, 1.0)]) as server:
        app.config.update(NOTIFY_ADAPTER="http", NOTIFY_URL=server.url, HTTP_TIMEOUT_SECONDS=0.2)
        assert notifications.send_pending(NOW)["retrying"] == 1
    db.session.expire_all()
    assert "did not answer" in only_row().last_error


def test_recipients_are_masked_in_the_log(app, caplog):
    with caplog.at_level(logging.INFO, logger="handlers.notifications"):
        queue_issued(app, [{"channel": "egov", "to": APPLICANT_IIN},
                           {"channel": "email", "to": "aziz.karimov@example.kz"},
                           {"channel": "sms", "to": "+77011234567"}])
        notifications.send_pending(NOW, adapter=FlakyGateway(failures=1))
        notifications.send_pending(NOW + timedelta(hours=1))
    assert "9501******06" in caplog.text and "a***@example.kz" in caplog.text
    for raw in (APPLICANT_IIN, "aziz.karimov", "77011234567"):
        assert raw not in caplog.text


def test_role_recipients_for_supervisors_are_logged_as_they_are(app):
    assert notifications.mask_recipient("role:supervisor:ALA") == "role:supervisor:ALA"
