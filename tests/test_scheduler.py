"""Who sweeps due timers: the development server, a scheduler process, or cron; and how late.

The lag tests run on the real clock: a timer due one second after the start must fire
within one sweep interval plus the sweep's own run time.
"""
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from flask.cli import run_command

from app import create_app
from engine import audit, definitions, instances, scheduler, timers
from engine.db import db
from tests.conftest import make_config

BPMN = Path(__file__).resolve().parent / "bpmn"
INTERVAL = 0.25


@pytest.fixture
def waiting(app):
    definitions.deploy_file(BPMN / "timer_wait.bpmn", app.config, actor="test")
    return app


def start_wait(wait_for):
    row = instances.start("timer_wait", {"wait_for": wait_for}, actor="test")
    return row.id


def fired_events(instance_id):
    """(at, details) of the timer_fired events, read in a transaction ended at once: on SQLite
    every transaction holds the write lock, and the sweeping thread needs it."""
    db.session.rollback()
    try:
        return db.session.execute(sa.select(audit.AuditEvent.at, audit.AuditEvent.details).filter_by(
            event=timers.TIMER_FIRED, instance_id=instance_id)).all()
    finally:
        db.session.rollback()


def wait_until_fired(instance_id, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events = fired_events(instance_id)
        if events:
            return events
        time.sleep(0.05)
    raise AssertionError("the timer did not fire")


def lag_of(event):
    at, details = event
    return (at - datetime.fromisoformat(details["due_at"])).total_seconds()


# --- when the in-process sweep starts -------------------------------------------------------------

@pytest.mark.parametrize("setting, expected", [
    (False, False), ("false", False), ("0", False), ("off", False),
    (True, True), ("true", True), ("1", True), ("on", True),
    ("auto", False),  # not under `flask run`: tests, other commands, gunicorn
])
def test_the_setting_decides_outside_the_development_server(setting, expected):
    assert scheduler.should_start(setting) is expected


def flask_run_context(reload):
    ctx = click.Context(run_command, info_name="run")
    ctx.params = {"host": "127.0.0.1", "port": 5000, "reload": reload}
    return ctx


def test_flask_run_without_the_reloader_sweeps_in_its_only_process(monkeypatch):
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    with flask_run_context(reload=False):
        assert scheduler.should_start("auto") is True


def test_flask_run_with_the_reloader_sweeps_in_the_serving_child_not_in_the_watching_parent(monkeypatch):
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    with flask_run_context(reload=True):
        assert scheduler.should_start("auto") is False
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    with flask_run_context(reload=True):
        assert scheduler.should_start("auto") is True


def test_flask_run_in_debug_mode_uses_the_reloader_so_only_the_child_sweeps(monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    with flask_run_context(reload=None):
        assert scheduler.should_start("auto") is False


def test_the_scheduler_process_command_does_not_also_start_a_background_sweep():
    with click.Context(scheduler.scheduler_run_command, info_name="run"):
        assert scheduler.should_start("auto") is False


def test_tests_and_cli_commands_get_no_background_sweep(app):
    assert scheduler.EXTENSION not in app.extensions
    assert scheduler.should_start(make_config().SCHEDULER_ENABLED) is False


# --- the three ways to sweep ------------------------------------------------------------------------

def test_background_sweep_fires_a_due_timer_within_one_interval(waiting):
    instance_id = start_wait("PT1S")
    served = create_app(make_config(SCHEDULER_ENABLED=True, SWEEP_INTERVAL_SECONDS=INTERVAL))
    try:
        assert served.extensions[scheduler.EXTENSION].running
        (event,) = wait_until_fired(instance_id)
    finally:
        scheduler._shutdown(served.extensions[scheduler.EXTENSION])
        with served.app_context():
            db.engine.dispose()
    lag = lag_of(event)
    print(f"background sweep lag {lag:.3f}s (interval {INTERVAL}s)")
    assert 0 < lag < INTERVAL + 1.0
    assert instances.get(instance_id).status == "completed"


def test_scheduler_process_sweeps_until_it_is_stopped(waiting):
    instance_id = start_wait("PT1S")
    process_app = create_app(make_config())
    runner = threading.Thread(target=scheduler.run_blocking, args=(process_app, INTERVAL))
    runner.start()
    try:
        (event,) = wait_until_fired(instance_id)
    finally:
        for _ in range(100):
            if scheduler.EXTENSION in process_app.extensions:
                break
            time.sleep(0.01)
        scheduler._shutdown(process_app.extensions[scheduler.EXTENSION])
        runner.join(10)
        with process_app.app_context():
            db.engine.dispose()
    assert not runner.is_alive()
    lag = lag_of(event)
    print(f"scheduler process lag {lag:.3f}s (interval {INTERVAL}s)")
    assert 0 < lag < INTERVAL + 1.0


def test_one_sweep_from_cron_fires_the_due_timers_and_says_so(waiting, time_machine):
    time_machine.move_to(datetime(2026, 6, 1, 5, 0, tzinfo=timezone.utc), tick=False)
    instance_id = start_wait("PT1H")
    listed = waiting.test_cli_runner().invoke(args=["timers", "list"])
    assert listed.output.startswith(f"2026-06-01T06:00:00+00:00\t{instance_id}\twait")
    assert waiting.test_cli_runner().invoke(args=["timers", "list", "--due"]).output == "no timers\n"
    time_machine.move_to(datetime(2026, 6, 1, 6, 0, 1, tzinfo=timezone.utc), tick=False)
    result = waiting.test_cli_runner().invoke(args=["timers", "run-due"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "timers: claimed 1, fired 1, conflicts 0, failed 0"
    again = waiting.test_cli_runner().invoke(args=["timers", "run-due"])
    assert again.output.splitlines()[0] == "timers: claimed 0, fired 0, conflicts 0, failed 0"
    assert len(fired_events(instance_id)) == 1


def test_a_sweep_that_fails_is_logged_and_the_next_one_runs(waiting, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database gone")
    monkeypatch.setattr(timers, "run_due", broken)
    assert scheduler.sweep(waiting) is None
    assert "timer sweep failed" in caplog.text
    monkeypatch.undo()
    assert scheduler.sweep(waiting).claimed == 0


def test_the_sweep_job_never_runs_twice_at_once_and_starts_at_once(app):
    from apscheduler.schedulers.background import BackgroundScheduler
    planned = scheduler.schedule_sweep(app, BackgroundScheduler(), interval=7)
    job = planned.get_job(scheduler.JOB_ID)
    assert job.max_instances == 1 and job.coalesce is True
    assert job.trigger.interval == timedelta(seconds=7)
