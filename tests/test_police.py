"""Police coordination: the simulator's answers as `police_reply` messages, and the HTTP adapter."""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from engine import audit, clock, hooks, instances, jobs, scheduler
from engine.db import db
from handlers import police, reference
from tests.test_operators_domain import APPLICANT, APPLICANT_IIN, EMPLOYER, deploy_linear, load_reference

POLICE_STEPS = [
    {"id": "ask_police", "operator": "police.request_check",
     "params": {"applicant": "applicant", "employer": "employer", "region": "region"},
     "result": "police_request"},
    {"id": "wait_reply", "message": "police_reply", "variable": "police_reply"},
]
ASK_ONLY = POLICE_STEPS[:1]


class ScriptedServer:
    """A local HTTP server (127.0.0.1, ephemeral port) answering from a script, recording requests.

    `script` is a list of (status, json body, delay seconds); the last entry repeats.
    """

    def __init__(self, script):
        self.script, self.requests = list(script), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "json": json.loads(body or b"null")})
                status, answer, delay = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                time.sleep(delay)
                payload = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def police_case(app, tmp_path):
    load_reference(app)
    deploy_linear(app, tmp_path, "test_police", POLICE_STEPS)
    deploy_linear(app, tmp_path, "test_police_ask_only", ASK_ONLY)
    app.config.update(JOB_BACKOFF_SECONDS=0, JOB_MAX_ATTEMPTS=3)

    def start(applicant=APPLICANT, process="test_police", worker=True):
        """Start the case; then, as a worker does at once, run the police request job."""
        row = instances.start(process, {"region": "ALA", "applicant": applicant,
                                        "employer": EMPLOYER}, actor="portal")
        instance_id = row.id
        if worker:
            scheduler.run_jobs()
            db.session.remove()
        return instances.get(instance_id)
    return start


def request_row(instance_id):
    return db.session.execute(sa.select(police.PoliceRequest).filter_by(instance_id=instance_id)).scalar_one()


def reply_of(instance_id):
    return instances.peek(instances.get(instance_id)).data.get("police_reply")


# --- the request is a job: never made inside the step that reaches it ----------------------

def test_the_request_waits_for_a_worker_and_the_step_that_reached_it_only_records_the_job(police_case):
    row = police_case(worker=False)
    assert row.status == "in_progress"
    assert db.session.execute(sa.select(police.PoliceRequest)).first() is None
    [job] = jobs.for_instance(row.id)
    assert (job.operator, job.bpmn_id, job.status, job.attempts) == ("police.request_check", "ask_police",
                                                                     "pending", 0)
    assert job.params["applicant"]["iin"] == APPLICANT_IIN
    job_id = job.id
    assert scheduler.run_jobs().applied == 1
    assert request_row(row.id).delivered_at is not None and jobs.for_instance(row.id) == []
    data = instances.current_data(instances.peek(instances.get(row.id)))
    assert data["police_request"]["request_id"] == job_id == request_row(row.id).id


# --- the simulator ---------------------------------------------------------------------------

def test_an_unlisted_applicant_is_approved_on_the_next_sweep_never_inside_the_request_step(police_case):
    row = police_case()
    assert row.status == "in_progress"  # waits for the reply, even with no delay
    data = instances.current_data(instances.peek(row))
    assert data["police_request"]["adapter"] == "simulator"
    assert data["police_request"]["correlation"] == row.id and "verdict" not in data["police_request"]
    assert request_row(row.id).status == police.REPLY_PENDING
    assert police.deliver_due_replies(clock.now()) == {"delivered": 1, "undeliverable": 0, "failed": 0}
    assert instances.get(row.id).status == "completed"
    assert reply_of(row.id) == {"verdict": "approve", "reason": None}
    assert request_row(row.id).status == police.REPLY_DELIVERED


def test_an_applicant_on_the_watch_list_is_objected_to_with_the_listed_reason(police_case, app):
    reference.add_police_entry("watch", iin=APPLICANT_IIN, reason="Expelled in 2024, entry banned",
                               actor="admin")
    db.session.commit()
    row = police_case()
    police.deliver_due_replies(clock.now())
    assert reply_of(row.id) == {"verdict": "object", "reason": "Expelled in 2024, entry banned"}


def test_a_passport_on_the_watch_list_is_objected_to_whatever_the_iin(police_case):
    reference.add_police_entry("watch", passport_no="fa 1234567", reason="Passport reported stolen",
                               actor="admin")
    db.session.commit()
    row = police_case()
    police.deliver_due_replies(clock.now())
    assert reply_of(row.id)["verdict"] == "object"


def test_an_applicant_on_the_silent_list_never_gets_an_answer(police_case):
    reference.add_police_entry("silent", iin=APPLICANT_IIN, actor="admin")
    db.session.commit()
    row = police_case()
    assert request_row(row.id).status == police.SILENT
    assert police.deliver_due_replies(clock.now() + timedelta(days=3))["delivered"] == 0
    assert instances.get(row.id).status == "in_progress" and reply_of(row.id) is None


def test_the_answer_waits_for_the_configured_delay(police_case, app):
    app.config["POLICE_SIMULATOR_DELAY_SECONDS"] = 3600
    row = police_case()
    assert request_row(row.id).reply_due_at == request_row(row.id).delivered_at + timedelta(hours=1)
    assert police.deliver_due_replies(clock.now() + timedelta(minutes=30))["delivered"] == 0
    assert instances.get(row.id).status == "in_progress"
    assert police.deliver_due_replies(clock.now() + timedelta(hours=1, seconds=1))["delivered"] == 1
    assert instances.get(row.id).status == "completed"


def test_a_reply_is_delivered_once_however_many_sweeps_run(police_case):
    row = police_case()
    assert police.deliver_due_replies(clock.now())["delivered"] == 1
    assert police.deliver_due_replies(clock.now())["delivered"] == 0
    delivered = [e for e in audit.trail(row.id)
                 if e.event == "message_delivered"]
    assert len(delivered) == 1


def test_a_reply_to_a_case_that_no_longer_waits_is_recorded_undeliverable(police_case):
    row = police_case(process="test_police_ask_only")
    assert instances.get(row.id).status == "completed"
    assert police.deliver_due_replies(clock.now()) == {"delivered": 0, "undeliverable": 1, "failed": 0}
    request = request_row(row.id)
    assert request.status == police.REPLY_UNDELIVERABLE and request.delivery_status == "not_waiting"


def test_the_log_shows_the_applicant_masked(police_case, caplog):
    with caplog.at_level(logging.INFO, logger="handlers.police"):
        police_case()
    assert "9501******06" in caplog.text
    assert APPLICANT_IIN not in caplog.text and APPLICANT["passport_no"] not in caplog.text


# --- the HTTP adapter ------------------------------------------------------------------------

def test_the_http_adapter_posts_the_request_and_the_answer_comes_through_the_api(police_case, app):
    with ScriptedServer([(202, {"accepted": True}, 0)]) as server:
        app.config.update(POLICE_ADAPTER="http", POLICE_URL=server.url + "checks")
        row = police_case()
    assert row.status == "in_progress"
    [sent] = server.requests
    assert sent["path"] == "/checks"
    assert sent["json"]["case_id"] == row.id
    assert sent["json"]["reply"] == {"message": "police_reply", "correlation": row.id}
    assert sent["json"]["applicant"]["iin"] == APPLICANT_IIN
    assert sent["headers"]["Idempotency-Key"] == sent["json"]["request_id"] == request_row(row.id).id
    assert request_row(row.id).status == police.SENT
    assert police.deliver_due_replies(clock.now())["delivered"] == 0  # the simulator's queue only


def test_a_police_system_that_fails_twice_is_retried_by_the_job_with_one_idempotency_key(police_case, app):
    with ScriptedServer([(503, {}, 0), (502, {}, 0), (202, {}, 0)]) as server:
        app.config.update(POLICE_ADAPTER="http", POLICE_URL=server.url)
        row = police_case()
    assert row.status == "in_progress" and len(server.requests) == 3
    assert len({r["headers"]["Idempotency-Key"] for r in server.requests}) == 1
    assert db.session.execute(sa.select(sa.func.count()).select_from(police.PoliceRequest)).scalar_one() == 1
    retries = [e.details["attempt"] for e in audit.trail(row.id) if e.event == "job_retry_scheduled"]
    assert retries == [1, 2]


def test_a_failed_attempt_moves_the_jobs_due_time_on_by_the_back_off(police_case, app):
    app.config.update(JOB_BACKOFF_SECONDS=30)
    with ScriptedServer([(503, {}, 0)]) as server:
        app.config.update(POLICE_ADAPTER="http", POLICE_URL=server.url)
        row = police_case()
        [job] = jobs.for_instance(row.id)
        assert job.attempts == 1 and job.lease_owner is None and "HTTP 503" in job.last_error
        assert 29 <= (job.due_at - clock.now()).total_seconds() <= 31
        assert scheduler.run_jobs().claimed == 0  # not due yet: no sleep, no second call
    assert len(server.requests) == 1


def test_a_police_system_that_keeps_failing_is_an_incident_after_the_retries(police_case, app):
    with ScriptedServer([(500, {}, 0)]) as server:
        app.config.update(POLICE_ADAPTER="http", POLICE_URL=server.url)
        row = police_case()
    assert row.status == "incident" and row.incident_error_type == "PoliceUnavailable"
    assert len(server.requests) == 3
    assert db.session.execute(sa.select(sa.func.count()).select_from(police.PoliceRequest)).scalar_one() == 0


def test_a_police_system_that_does_not_answer_in_time_is_retried_then_an_incident(police_case, app):
    with ScriptedServer([(202, {}, 1.0)]) as server:
        app.config.update(POLICE_ADAPTER="http", POLICE_URL=server.url, HTTP_TIMEOUT_SECONDS=0.2)
        row = police_case()
    assert row.status == "incident" and row.incident_error_type == "PoliceUnavailable"
    assert "did not answer" in row.incident_message


def test_a_request_the_police_system_refuses_is_an_incident_without_retries(police_case, app):
    with ScriptedServer([(400, {"error": "bad"}, 0)]) as server:
        app.config.update(POLICE_ADAPTER="http", POLICE_URL=server.url)
        row = police_case()
    assert row.status == "incident" and row.incident_error_type == "PoliceRequestRefused"
    assert len(server.requests) == 1


def test_http_without_a_url_is_a_configuration_incident(police_case, app):
    app.config.update(POLICE_ADAPTER="http", POLICE_URL="")
    row = police_case()
    assert row.status == "incident" and "POLICE_URL is not configured" in row.incident_message


def test_the_domain_sweep_hook_delivers_due_answers_and_sends_due_notifications(police_case, app):
    import handlers
    from handlers import notifications
    handlers.init_app(app)
    handlers.init_app(app)
    assert hooks.of(app).sweep_hooks == [handlers.sweep]
    row = police_case()
    notifications.queue(db.session, template="expired", recipient=APPLICANT_IIN, channel="egov",
                        data={"permit_number": "ALA-2026-000001", "valid_to": "2026-09-30"},
                        instance_id=None, now=clock.now(), config=app.config)
    db.session.commit()
    result = handlers.sweep(clock.now())
    assert result == {"police_replies": {"delivered": 1, "undeliverable": 0, "failed": 0},
                      "notifications": {"sent": 1, "retrying": 0, "failed": 0}}
    assert instances.get(row.id).status == "completed"


def test_a_delivery_that_fails_stays_pending_for_the_next_sweep(police_case, monkeypatch):
    from engine import messages
    row = police_case()
    real_deliver = messages.deliver

    def busy(*args, **kwargs):
        raise messages.Conflict("the case was changed by someone else")

    monkeypatch.setattr(messages, "deliver", busy)
    assert police.deliver_due_replies(clock.now()) == {"delivered": 0, "undeliverable": 0, "failed": 1}
    assert request_row(row.id).status == police.REPLY_PENDING
    monkeypatch.setattr(messages, "deliver", real_deliver)
    assert police.deliver_due_replies(clock.now())["delivered"] == 1
    assert instances.get(row.id).status == "completed"
