"""GET /metrics in Prometheus's text format: request latency per route, cases by status and
procedure, open incidents, due timers and jobs with their lag, failed jobs, external calls.

Readable with a bearer token of scope metrics:read or from METRICS_NETWORKS, nobody else.
Counts come from the index tables at scrape time (never from workflows). Latencies and external
calls are counted in the process that saw them; with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py
sets it for the web tier; give the workers of the same host the same directory) each process writes
them to its own file there and one scrape of any process sums every process's files, so a scrape
sees all gunicorn workers and the `flask worker run` processes. A worker on another host serves its
own with `flask worker run --metrics-port`.
"""
from __future__ import annotations

import ipaddress
import os
import time

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from engine import clock, hooks, instances, jobs, timers
from engine.db import db

bp = Blueprint("metrics", __name__)
EXTENSION = "metrics"


def multiprocess_dir() -> str | None:
    """The directory the processes of this host share their counts in, when there is one."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Metrics:
    """This process's latencies and external calls, and the registry a scrape reads.

    Alone (development, tests): the metrics live in the registry. Shared (PROMETHEUS_MULTIPROC_DIR):
    they are written to this process's file in the directory, registered nowhere, and the
    registry reads every process's files at scrape time.
    """

    def __init__(self, with_database: bool = True):
        self.registry = CollectorRegistry(auto_describe=True)
        shared = multiprocess_dir()
        own = None if shared else self.registry
        self.latency = Histogram("http_request_duration_seconds", "HTTP request latency by route",
                                 ["method", "route", "status"], registry=own)
        self.call_latency = Histogram("external_call_duration_seconds",
                                      "Calls to other systems (external operators run by jobs)",
                                      ["operator"], registry=own)
        self.call_errors = Counter("external_call_errors", "Failed calls to other systems",
                                   ["operator", "error"], registry=own)
        if shared:
            os.makedirs(shared, exist_ok=True)
            multiprocess.MultiProcessCollector(self.registry, path=shared)
        if with_database:
            self.registry.register(_DatabaseCollector())

    def observe_call(self, operator, seconds, error):
        self.call_latency.labels(operator).observe(seconds)
        if error is not None:
            self.call_errors.labels(operator, type(error).__name__).inc()


class _DatabaseCollector:
    """Gauges read from the index tables when Prometheus scrapes."""

    def describe(self):
        return []  # nothing is read at registration (no application context then)

    def collect(self):
        try:
            yield from self._collect()
        finally:
            db.session.rollback()  # a scrape leaves no read transaction open

    def _collect(self):
        now = clock.now()
        Instance = instances.ProcessInstance
        cases = GaugeMetricFamily("process_instances", "Process instances by procedure and status",
                                  labels=["process_id", "status"])
        for process_id, status, n in db.session.execute(
                sa.select(Instance.process_id, Instance.status, sa.func.count())
                .group_by(Instance.process_id, Instance.status)):
            cases.add_metric([process_id, status], n)
        yield cases
        incidents = GaugeMetricFamily("incidents_open", "Open incidents by procedure and error",
                                      labels=["process_id", "error_type"])
        for process_id, error_type, n in db.session.execute(
                sa.select(Instance.process_id, Instance.incident_error_type, sa.func.count())
                .where(Instance.status == instances.INCIDENT)
                .group_by(Instance.process_id, Instance.incident_error_type)):
            incidents.add_metric([process_id, error_type or ""], n)
        yield incidents
        Timer, Job = timers.Timer, jobs.Job
        yield from _due("timers", Timer.due_at, [Timer.due_at <= now], now)
        yield from _due("jobs", Job.due_at, [Job.status == jobs.PENDING, Job.due_at <= now], now)
        failed = db.session.execute(sa.select(sa.func.count()).select_from(Job)
                                    .where(Job.status == jobs.FAILED)).scalar()
        yield GaugeMetricFamily("jobs_failed", "Jobs that ran out of attempts (their cases are incidents)",
                                value=failed)


def _due(name, column, where, now):
    count, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(column)).where(*where)).one()
    yield GaugeMetricFamily(f"{name}_due", f"{name.capitalize()} due now and not yet run", value=count)
    lag = (now - clock.as_utc(oldest)).total_seconds() if oldest is not None else 0.0
    yield GaugeMetricFamily(f"{name}_lag_seconds", f"How long the oldest due {name[:-1]} has waited",
                            value=max(lag, 0.0))


def init_app(app) -> None:
    global _observing
    metrics = app.extensions.setdefault(EXTENSION, _Metrics())
    _observing = metrics  # a process serves one application (tests build many: the newest counts)
    if _observe_call not in jobs.CALL_OBSERVERS:
        jobs.CALL_OBSERVERS.append(_observe_call)
    hooks.add_worker_start_hook(app, _serve_worker_metrics)
    app.before_request(_start_timer)
    app.after_request(_record_latency)
    app.register_blueprint(bp)


_observing: _Metrics | None = None


def _observe_call(operator, seconds, error):
    if _observing is not None:
        _observing.observe_call(operator, seconds, error)


def _serve_worker_metrics(app) -> None:
    port = app.config.get("WORKER_METRICS_PORT")
    if port in (None, ""):
        return
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"WORKER_METRICS_PORT: {port!r} is not a port number (1-65535)")
    serve_process_metrics(app, int(port), app.config.get("WORKER_METRICS_ADDRESS") or "127.0.0.1")
    app.logger.info("worker metrics served on port %s", port)


def serve_process_metrics(app, port: int, address: str = "127.0.0.1"):
    """A worker's own metrics endpoint (its external calls; with a shared directory, every process
    of its host), for a worker on a host where no web process runs. Counts from the database are
    the web tier's to serve, so they are not repeated here."""
    from prometheus_client import start_http_server
    metrics = app.extensions[EXTENSION]
    registry = CollectorRegistry(auto_describe=True)
    shared = multiprocess_dir()
    if shared:
        multiprocess.MultiProcessCollector(registry, path=shared)
    else:
        for metric in (metrics.call_latency, metrics.call_errors):
            registry.register(metric)
    return start_http_server(port, addr=address, registry=registry)


@bp.get("/metrics")
def metrics():
    if not (_from_allowed_network() or _token_allows()):
        abort(404)  # to anyone else, there is no such page
    payload = generate_latest(current_app.extensions[EXTENSION].registry)
    return Response(payload, mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


def _start_timer():
    g.metrics_started = time.perf_counter()


def _record_latency(response):
    started = g.pop("metrics_started", None)
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        current_app.extensions[EXTENSION].latency.labels(request.method, route, str(response.status_code)) \
            .observe(time.perf_counter() - started)
    return response


def _from_allowed_network() -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    for network in current_app.config.get("METRICS_NETWORKS") or []:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            current_app.logger.warning("METRICS_NETWORKS holds %r, which is not a network", network)
    return False


def _token_allows() -> bool:
    from web.api import clients
    kind, _, token = request.headers.get("Authorization", "").partition(" ")
    found = clients.authenticate(token.strip()) if kind.lower() == "bearer" and token.strip() else None
    return found is not None and "metrics:read" in found.scopes
