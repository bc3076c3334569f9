"""Jobs: no external system, retry or back-off runs inside a client's request.

A police system that accepts connections and never answers, a real HTTP server for the service,
concurrent applications of one region, worker processes killed with SIGKILL mid-job.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from werkzeug.serving import make_server

from engine import audit, instances, jobs, messages, scheduler
from engine.db import db, reading
from handlers import police
from handlers.notifications import Notification
from tests.conftest import DATABASE_URL
from tests.permit_support import deploy_procedures, load_reference
from tests.test_api_support import application, make_token

ROOT = Path(__file__).resolve().parent.parent


class PoliceStub:
    """The police system on 127.0.0.1: hangs (accepts, never answers) until it recovers; records
    every request it got and its Idempotency-Key."""

    def __init__(self, hanging=True):
        self.requests = []
        self.recovered = threading.Event()
        if not hanging:
            self.recovered.set()
        self.first_request = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append({"key": self.headers.get("Idempotency-Key"), "json": json.loads(body)})
                outer.first_request.set()
                if not outer.recovered.wait(60):
                    return
                try:
                    self.send_response(202)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the client gave up long ago

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/checks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def keys(self):
        return {r["key"] for r in self.requests}

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.recovered.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service(app):
    load_reference(app, quota=50)
    deploy_procedures(app, "permit_issue")
    app.config.update(JOB_BACKOFF_SECONDS=0, JOB_MAX_ATTEMPTS=2)
    portal = make_token("egov-portal", ["applications:write", "cases:read"])
    db.session.commit()
    app.portal = portal
    return app


@pytest.fixture
def served(service):
    server = make_server("127.0.0.1", 0, service, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    db.session.remove()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def submit(base, portal, number, body=None):
    body = body or application(application_no=f"EGOV-2026-{number:06d}")
    started = time.monotonic()
    response = requests.post(f"{base}/api/v1/applications", json=body, headers=portal, timeout=60)
    return response, time.monotonic() - started


def steps(base, portal, case_id):
    case = requests.get(f"{base}/api/v1/cases/{case_id}", headers=portal, timeout=30).json()
    return case["status"], [s["name"] for s in case["current_steps"]]


def read(query):
    """Read the database as it is now, holding no transaction afterwards (workers write meanwhile)."""
    db.session.rollback()
    with reading():
        try:
            return db.session.execute(query).scalar_one()
        finally:
            db.session.rollback()


def police_requests():
    return read(sa.select(sa.func.count()).select_from(police.PoliceRequest))


def test_a_hanging_police_system_holds_up_no_application_and_the_cases_proceed_when_it_recovers(served, service):
    with PoliceStub(hanging=True) as stub:
        service.config.update(POLICE_ADAPTER="http", POLICE_URL=stub.url, HTTP_TIMEOUT_SECONDS=5.0,
                              JOB_BACKOFF_SECONDS=3, JOB_MAX_ATTEMPTS=5)
        first, took = submit(served, service.portal, 1)
        assert first.status_code == 201, first.text
        # Far under the 5 s one police call alone would take (tens of ms, bench/submit.py; the bound
        # leaves room for a loaded test machine): the call is not in the request.
        assert took < 4.0
        # Durably accepted; the checks and the police request are a worker's.
        assert steps(served, service.portal, first.json()["case_id"]) == (
            "in_progress", ["Fix the filing day and the terms in force"])

        answers = [None] * 8

        def one(i):
            answers[i] = submit(served, service.portal, 100 + i)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert [r.status_code for r, _ in answers] == [201] * 8
        assert max(t for _, t in answers) < 4.0, [round(t, 2) for _, t in answers]
        case_ids = [first.json()["case_id"]] + [r.json()["case_id"] for r, _ in answers]

        # A worker tries while the police still hang: each attempt times out, the job is moved on.
        service.config.update(HTTP_TIMEOUT_SECONDS=0.3)
        tried = scheduler.run_jobs()  # the checks run, then one police attempt per case
        assert (tried.claimed, tried.applied, tried.retrying) == (18, 9, 9)
        assert police_requests() == 0
        assert {tuple(steps(served, service.portal, c)[1]) for c in case_ids} == {
            ("Ask the migration police to agree",)}

        stub.recovered.set()  # each job is taken again once its back-off has passed
        assert wait_for(lambda: scheduler.run_jobs() is not None and police_requests() == 9, 30)
    assert police_requests() == 9
    assert len(stub.keys()) == 9  # one request per case, however often it was sent
    for case_id in case_ids:
        assert steps(served, service.portal, case_id) == ("in_progress", ["Wait for the police answer"])


def test_retries_running_out_make_an_incident_that_a_retry_after_recovery_completes(served, service):
    with PoliceStub(hanging=True) as stub:
        service.config.update(POLICE_ADAPTER="http", POLICE_URL=stub.url, HTTP_TIMEOUT_SECONDS=0.3)
        response, _ = submit(served, service.portal, 1)
        case_id = response.json()["case_id"]
        result = scheduler.run_jobs()
        assert (result.applied, result.retrying, result.failed) == (1, 1, 1)
        db.session.expire_all()
        row = instances.get(case_id)
        assert row.status == "incident" and row.incident_error_type == "PoliceUnavailable"
        assert "failed after 2 attempt(s)" in row.incident_message
        # An undelivered request is an incident, never police silence: no answer term is running.
        assert "police_answer" not in (instances.current_data(instances.peek(row)).get("deadlines") or {})
        assert police_requests() == 0

        stub.recovered.set()
        retried = service.test_cli_runner().invoke(args=["instances", "retry", case_id, "--actor", "operator"])
        assert retried.exit_code == 0, retried.output
        assert scheduler.run_jobs().applied == 1
    assert police_requests() == 1
    assert steps(served, service.portal, case_id) == ("in_progress", ["Wait for the police answer"])
    events = [e.event for e in audit.trail(case_id)]
    assert events.count("incident_raised") == 1 and "incident_retried" in events


def test_resubmitting_while_the_police_hang_returns_the_same_case(served, service):
    with PoliceStub(hanging=True) as stub:
        service.config.update(POLICE_ADAPTER="http", POLICE_URL=stub.url)
        body = application(application_no="EGOV-2026-000007")
        first, _ = submit(served, service.portal, 7, body)
        again, took = submit(served, service.portal, 7, body)
    assert first.status_code == 201 and again.status_code in (200, 201)
    assert again.json()["case_id"] == first.json()["case_id"] and took < 4.0
    assert len(jobs.due()) == 1


# --- worker processes killed mid-job -----------------------------------------------------------------

def worker_process(tmp_path, name, **env):
    settings = dict(os.environ, FLASK_APP="app:create_app", DATABASE_URL=DATABASE_URL, DEPLOY_ON_START="false",
                    SCHEDULER_ENABLED="false", GC_FREEZE_ON_START="false", JOB_LEASE_SECONDS="2",
                    JOB_POLL_SECONDS="0.2", SWEEP_INTERVAL_SECONDS="0.2", NOTIFY_CLAIM_SECONDS="2",
                    PYTHONUNBUFFERED="1")
    settings.update({k: str(v) for k, v in env.items()})
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "flask", "worker", "run", "--threads", "1"], cwd=ROOT,
                            env=settings, stdout=log, stderr=subprocess.STDOUT)


def wait_for(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_worker_killed_mid_request_leaves_the_job_to_another_and_the_police_get_one_request(service, tmp_path):
    with PoliceStub(hanging=True) as stub:
        settings = dict(POLICE_ADAPTER="http", POLICE_URL=stub.url, HTTP_TIMEOUT_SECONDS=30)
        service.config.update(settings)
        from tests.permit_support import file_application
        case_id = file_application(application(), worker=False).id
        db.session.commit()
        assert read(sa.select(sa.func.count()).select_from(jobs.Job)) == 1  # the checks' continuation
        first = worker_process(tmp_path, "first", **settings)
        second = None
        try:
            assert stub.first_request.wait(60), (tmp_path / "first.log").read_text()
            first.send_signal(signal.SIGKILL)  # mid-job: the request is out, no answer yet
            first.wait(10)
            stub.recovered.set()
            second = worker_process(tmp_path, "second", **settings)
            assert wait_for(lambda: police_requests() == 1, 60), (tmp_path / "second.log").read_text()
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait(10)
    assert len(stub.requests) == 2 and len(stub.keys()) == 1  # sent again, with the same key: one request
    db.session.expire_all()
    assert jobs.for_instance(case_id) == []
    assert [e.event for e in audit.trail(case_id)].count("job_completed") == 1


def test_a_worker_killed_mid_notification_leaves_it_to_another_and_it_is_delivered_once(service, tmp_path):
    from handlers import notifications
    from engine import clock
    with PoliceStub(hanging=True) as stub:  # stands in for the notification gateway
        settings = dict(NOTIFY_ADAPTER="http", NOTIFY_URL=stub.url, HTTP_TIMEOUT_SECONDS=30)
        service.config.update(settings)
        notifications.queue(db.session, template="expired", recipient="900515300016", channel="egov",
                            data={"permit_number": "AST-2026-000001", "valid_to": "2026-09-30"},
                            instance_id=None, now=clock.now(), config=service.config)
        db.session.commit()
        first = worker_process(tmp_path, "first", **settings)
        second = None
        try:
            assert stub.first_request.wait(60), (tmp_path / "first.log").read_text()
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            stub.recovered.set()
            second = worker_process(tmp_path, "second", **settings)

            def sent():
                return read(sa.select(Notification.status)) == "sent"
            assert wait_for(sent, 60), (tmp_path / "second.log").read_text()
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait(10)
    assert len(stub.requests) == 2 and len(stub.keys()) == 1


def test_the_worker_process_stops_on_sigterm_after_its_current_work(service, tmp_path):
    process = worker_process(tmp_path, "worker")
    assert wait_for(lambda: "job thread(s)" in (tmp_path / "worker.log").read_text(), 60)
    time.sleep(0.5)  # its sweep is running
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, (tmp_path / "worker.log").read_text()
    assert "job thread(s)" in (tmp_path / "worker.log").read_text()


def test_a_police_answer_that_overtakes_its_request_is_refused_for_now_and_taken_when_resent(service, client):
    from tests.permit_support import file_application
    police_token = make_token("is-mp", ["messages:write"])
    case_id = file_application(application(), worker=False).id
    db.session.commit()
    envelope = {"message_id": "ismp-early-1", "correlation": case_id, "payload": {"verdict": "approve"}}
    early = client.post("/api/v1/messages/police_reply", json=envelope, headers=police_token)
    assert early.status_code == 503 and early.headers["Retry-After"] == "5"
    assert "send the message again" in early.get_json()["detail"]
    assert read(sa.select(sa.func.count()).select_from(messages.MessageReceipt)) == 0  # nothing recorded
    scheduler.run_jobs()  # the checks, then the police request: now the case waits for the answer
    again = client.post("/api/v1/messages/police_reply", json=envelope, headers=police_token)
    assert again.status_code == 202 and again.get_json()["status"] == "delivered"
