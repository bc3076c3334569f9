"""Running the timer sweep: inside the development server, as its own process, or from cron.

- SCHEDULER_ENABLED "auto" (the default): an APScheduler BackgroundScheduler in the process
  `flask run` serves from (with the reloader, in the serving child, not the watching parent);
  never in tests, other CLI commands or gunicorn workers. "true": in every process created.
- `flask scheduler run`: a blocking APScheduler, the sweeper when the web tier runs several
  processes. More than one sweeper is safe (leases), just not needed.
- `flask timers run-due`: one sweep, for cron.

A due timer fires at most SWEEP_INTERVAL_SECONDS plus one sweep's run time after its due time.
"""
from __future__ import annotations

import atexit
import json
import sys
from datetime import datetime, timezone

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import current_app
from flask.cli import AppGroup, run_command
from flask.helpers import get_debug_flag
from werkzeug.serving import is_running_from_reloader

from . import clock, timers
from .db import db

EXTENSION = "timer_scheduler"
JOB_ID = "timer_sweep"

timers_cli = AppGroup("timers", help="Waiting timers and the sweep that fires them.")
scheduler_cli = AppGroup("scheduler", help="The process that sweeps due timers.")


def init_app(app) -> None:
    """Start the in-process sweep when the configuration asks for it (see module doc)."""
    if should_start(app.config.get("SCHEDULER_ENABLED")):
        start_background(app)


def should_start(setting) -> bool:
    mode = str(setting).strip().lower()
    if mode in ("1", "true", "yes", "on"):
        return True
    if mode == "auto":
        return _serving_from_flask_run()
    return False


def start_background(app) -> BackgroundScheduler:
    scheduler = schedule_sweep(app, BackgroundScheduler(daemon=True))
    scheduler.start()
    app.extensions[EXTENSION] = scheduler
    atexit.register(_shutdown, scheduler)
    app.logger.info("timer sweep every %ss in this process", app.config["SWEEP_INTERVAL_SECONDS"])
    return scheduler


def run_blocking(app, interval: float | None = None) -> None:
    """Sweep every interval seconds until stopped (Ctrl-C, SIGTERM, or shutdown())."""
    scheduler = schedule_sweep(app, BlockingScheduler(), interval)
    app.extensions[EXTENSION] = scheduler
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        _shutdown(scheduler)


def schedule_sweep(app, scheduler, interval: float | None = None):
    """Add the sweep job: the first run at once, then every interval; never two at a time."""
    seconds = float(interval or app.config["SWEEP_INTERVAL_SECONDS"])
    scheduler.add_job(sweep, "interval", seconds=seconds, args=[app], id=JOB_ID, max_instances=1,
                      coalesce=True, misfire_grace_time=None,
                      next_run_time=datetime.now(timezone.utc))
    return scheduler


def sweep(app) -> timers.SweepResult | None:
    """One sweep in its own application context (the job APScheduler runs)."""
    with app.app_context():
        try:
            result = timers.run_due()
            if result.claimed:
                app.logger.info("timer sweep: %s", result)
            run_hooks(app)
            return result
        except Exception:  # the next run tries again; a scheduler thread must not die
            app.logger.exception("timer sweep failed")
            return None
        finally:
            db.session.remove()


def run_hooks(app) -> dict:
    """The application's own periodic work after the timers (e.g. outboxes), each isolated."""
    results = {}
    for hook in app.extensions.get("sweep_hooks", []):
        try:
            results[getattr(hook, "__qualname__", repr(hook))] = hook(clock.now())
        except Exception:  # one failing hook must not stop the others or the next sweep
            db.session.rollback()
            app.logger.exception("sweep hook %r failed", hook)
    return results


@timers_cli.command("run-due")
@click.option("--limit", type=int, default=None, help="At most this many timers (default SWEEP_LIMIT).")
@click.option("--owner", default=None, help="Lease owner name (default host:pid:thread).")
def run_due_command(limit, owner):
    """Fire the timers that are due now, once (for cron)."""
    result = timers.run_due(limit=limit, owner=owner)
    click.echo(f"timers: {result}")
    for name, outcome in run_hooks(current_app).items():
        click.echo(f"{name}: {outcome}")
    if result.failed:
        sys.exit(1)


@timers_cli.command("list")
@click.option("--due", "due_only", is_flag=True, help="Only the timers due now.")
@click.option("--instance", "instance_id", default=None, help="Only this instance's timers.")
@click.option("--limit", type=int, default=100)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(due_only, instance_id, limit, as_json):
    """Waiting timers, soonest first."""
    rows = timers.due(limit) if due_only else timers.upcoming(limit, instance_id)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no timers")
    for r in rows:
        lease = f"\tleased to {r.lease_owner} until {r.lease_until:%Y-%m-%d %H:%M:%S}" if r.lease_owner else ""
        click.echo(f"{r.due_at.isoformat()}\t{r.instance_id}\t{r.bpmn_id}{lease}")


@scheduler_cli.command("run")
@click.option("--interval", type=float, default=None, help="Seconds between sweeps (default "
                                                           "SWEEP_INTERVAL_SECONDS).")
def scheduler_run_command(interval):
    """Sweep due timers every few seconds until stopped: the dedicated scheduler process."""
    app = current_app._get_current_object()
    click.echo(f"sweeping due timers every {interval or app.config['SWEEP_INTERVAL_SECONDS']}s; "
               f"Ctrl-C stops")
    run_blocking(app, interval)


def register(app) -> None:
    app.cli.add_command(timers_cli)
    app.cli.add_command(scheduler_cli)


def _serving_from_flask_run() -> bool:
    # `flask run` loads the app inside its own click context; with the reloader the app is
    # created twice, in the watching parent and in the serving child: sweep only in the child.
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.command is not run_command:
        return False
    reload = ctx.params["reload"]
    if reload is None:
        reload = get_debug_flag()
    return not reload or is_running_from_reloader()


def _shutdown(scheduler) -> None:
    if scheduler.running:
        scheduler.shutdown(wait=False)
