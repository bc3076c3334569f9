"""The worker: the jobs (engine/jobs.py), the timer sweep and the domain's periodic work.

A worker is WORKER_THREADS job threads, each claiming due jobs and running them (woken at once
when a step of the same process writes one, else every JOB_POLL_SECONDS), plus an APScheduler
job that sweeps every SWEEP_INTERVAL_SECONDS: due timers, then the application's sweep hooks
(simulated police answers, the notification outbox). Everything it takes is leased, so any
number of workers can run side by side, and one killed mid-job leaves its work to the others.

- SCHEDULER_ENABLED "auto" (the default): a worker inside the process `flask run` serves from
  (with the reloader, in the serving child, not the watching parent), so `make run` is one
  command; never in tests, other CLI commands or gunicorn workers. "true": in every process.
- `flask worker run [--threads N]`: the worker as its own process, for production (one or more
  beside the gunicorn web tier). `flask scheduler run` is the same command under its old name.
- `flask timers run-due`: one pass of everything (jobs, timers, hooks), for cron or a test.

A due timer fires at most SWEEP_INTERVAL_SECONDS plus one sweep's run time after its due time.
"""
from __future__ import annotations

import atexit
import json
import signal
import sys
import threading
from datetime import datetime, timezone

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import current_app
from flask.cli import AppGroup, run_command, with_appcontext
from flask.helpers import get_debug_flag
from werkzeug.serving import is_running_from_reloader

from . import clock, hooks, jobs, timers, workers
from .db import db

EXTENSION = "timer_scheduler"
THREADS_EXTENSION = "job_threads"
JOB_ID = "timer_sweep"

timers_cli = AppGroup("timers", help="Waiting timers and the sweep that fires them.")
scheduler_cli = AppGroup("scheduler", help="The worker process (old name of `flask worker`).")
worker_cli = AppGroup("worker", help="The worker process: jobs, timers, outboxes.")


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


def start_background(app, threads: int | None = None) -> BackgroundScheduler:
    """A worker inside this process: job threads and the sweep (the development server's)."""
    job_threads = JobThreads(app, app.config["WORKER_THREADS"] if threads is None else threads)
    job_threads.start()
    app.extensions[THREADS_EXTENSION] = job_threads
    scheduler = schedule_sweep(app, BackgroundScheduler(daemon=True))
    scheduler.start()
    app.extensions[EXTENSION] = scheduler
    atexit.register(_shutdown, scheduler)
    app.logger.info("worker in this process: %d job thread(s), a sweep every %ss", job_threads.count,
                    app.config["SWEEP_INTERVAL_SECONDS"])
    return scheduler


def run_blocking(app, interval: float | None = None, threads: int | None = None,
                 announce: str | None = None) -> None:
    """Be the worker until stopped (Ctrl-C, SIGTERM, or shutdown()): job threads, and the sweep
    every interval seconds in this thread. A job being run when it stops is finished first."""
    for hook in hooks.of(app).worker_start_hooks:
        hook(app)
    job_threads = JobThreads(app, app.config["WORKER_THREADS"] if threads is None else threads)
    job_threads.start()
    app.extensions[THREADS_EXTENSION] = job_threads
    scheduler = schedule_sweep(app, BlockingScheduler(), interval)
    app.extensions[EXTENSION] = scheduler
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if _main_thread() else None
    if announce:
        click.echo(announce)  # once SIGTERM is ours: from here on a stop finishes the work in hand
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        _shutdown(scheduler)
    finally:
        job_threads.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class JobThreads:
    """Threads that claim and run due jobs until stopped."""

    def __init__(self, app, count: int):
        self.app, self.count = app, max(0, int(count))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.count):
            thread = threading.Thread(target=self._run, name=f"job-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        jobs.wake()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self) -> None:
        poll = float(self.app.config["JOB_POLL_SECONDS"])
        owner = timers.default_owner()
        while not self._stop.is_set():
            claimed = 0
            with self.app.app_context():
                try:
                    claimed = workers.run_due(owner=owner).claimed
                except Exception:  # the next pass tries again; a worker thread must not die
                    self.app.logger.exception("job pass failed")
                finally:
                    db.session.remove()
            if not claimed:
                jobs.wait_for_work(poll)


def schedule_sweep(app, scheduler, interval: float | None = None):
    """Add the sweep job: the first run at once, then every interval; never two at a time."""
    seconds = float(interval or app.config["SWEEP_INTERVAL_SECONDS"])
    scheduler.add_job(sweep, "interval", seconds=seconds, args=[app], id=JOB_ID, max_instances=1,
                      coalesce=True, misfire_grace_time=None,
                      next_run_time=datetime.now(timezone.utc))
    # Retention once a period (a day by default), its first run one period after the start.
    scheduler.add_job(run_retention, "interval", hours=float(app.config["RETENTION_INTERVAL_HOURS"]),
                      args=[app], id="retention", max_instances=1, coalesce=True)
    return scheduler


def run_retention(app) -> dict | None:
    """One retention pass in its own application context (engine/retention.py)."""
    from . import retention
    with app.app_context():
        try:
            result = retention.run()
            app.logger.info("retention: %s", result)
            return result
        except Exception:  # the next day tries again; a scheduler thread must not die
            app.logger.exception("retention failed")
            return None
        finally:
            db.session.remove()


def sweep(app, with_jobs: bool = False) -> timers.SweepResult | None:
    """One sweep in its own application context (the job APScheduler runs): due timers, then the
    sweep hooks; with `with_jobs`, due jobs first (a one-off pass: cron, tests)."""
    with app.app_context():
        try:
            if with_jobs:
                run_jobs()
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
    for hook in hooks.of(app).sweep_hooks:
        try:
            results[getattr(hook, "__qualname__", repr(hook))] = hook(clock.now())
        except Exception:  # one failing hook must not stop the others or the next sweep
            db.session.rollback()
            app.logger.exception("sweep hook %r failed", hook)
    return results


def run_jobs(owner: str | None = None) -> workers.RunResult:
    """Every due job, including those that become due while running (a job's step may write
    another): what one pass of cron or a test wants."""
    total = workers.RunResult()
    while True:
        result = workers.run_due(owner=owner)
        for key in ("claimed", "applied", "retrying", "failed", "lost"):
            setattr(total, key, getattr(total, key) + getattr(result, key))
        if not result.claimed:
            return total


@timers_cli.command("run-due")
@click.option("--limit", type=int, default=None, help="At most this many timers (default SWEEP_LIMIT).")
@click.option("--owner", default=None, help="Lease owner name (default host:pid:thread).")
def run_due_command(limit, owner):
    """Run the due jobs, fire the timers that are due now and the sweep hooks, once (for cron)."""
    job_result = run_jobs(owner=owner)
    result = timers.run_due(limit=limit, owner=owner)
    click.echo(f"timers: {result}")
    click.echo(f"jobs: {job_result}")
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


@click.command("run")
@click.option("--interval", type=float, default=None, help="Seconds between sweeps (default "
                                                           "SWEEP_INTERVAL_SECONDS).")
@click.option("--threads", type=click.IntRange(0, 64), default=None,
              help="Job threads (default WORKER_THREADS).")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve this worker's metrics (its calls to other systems) on this port "
                   "(default WORKER_METRICS_PORT; none when unset).")
@with_appcontext
def worker_run_command(interval, threads, metrics_port):
    """Run jobs, fire timers and send the outboxes until stopped: the worker process."""
    app = current_app._get_current_object()
    if metrics_port is not None:
        app.config["WORKER_METRICS_PORT"] = metrics_port
    count = app.config["WORKER_THREADS"] if threads is None else threads
    run_blocking(app, interval, count,
                 announce=f"worker: {count} job thread(s), a sweep every "
                          f"{interval or app.config['SWEEP_INTERVAL_SECONDS']}s; Ctrl-C or SIGTERM stops")


scheduler_run_command = worker_run_command
scheduler_cli.add_command(worker_run_command)
worker_cli.add_command(worker_run_command)


def register(app) -> None:
    app.cli.add_command(timers_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(worker_cli)


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


def _exit_on_sigterm(signum, frame):
    raise SystemExit(0)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
