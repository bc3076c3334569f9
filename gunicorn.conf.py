"""gunicorn settings for the web tier (production shape: docs/operations.md "The process kinds").

`gunicorn 'app:create_app()'` reads this file from the working directory. Every value can be
overridden by an environment variable of the same name with the prefix GUNICORN_ (or on the
command line). The web tier only answers requests: every call to another system runs in the
worker processes (`flask worker run`), and every engine run is bounded by
ENGINE_STEP_MAX_SECONDS, so no request lasts longer than that plus the database's own time.
"""
import multiprocessing
import os
import tempfile


def _env(name, default, kind=str):
    return kind(os.environ.get(f"GUNICORN_{name}", default))


bind = _env("BIND", "127.0.0.1:8000")
# Two processes per core, each with a few threads: a request mostly waits on the database.
workers = _env("WORKERS", multiprocessing.cpu_count() * 2, int)
threads = _env("THREADS", 4, int)
worker_class = "gthread"
# Above the longest request: an engine run's budget (ENGINE_STEP_MAX_SECONDS, 10 s by default)
# plus the database; a worker past it is killed and restarted.
timeout = _env("TIMEOUT", 60, int)
# A restart (SIGHUP, or a deploy's SIGTERM) lets requests in flight finish for this long.
graceful_timeout = _env("GRACEFUL_TIMEOUT", 30, int)
keepalive = 5
# Recycle processes now and then, so no slow leak grows for weeks.
max_requests = _env("MAX_REQUESTS", 5000, int)
max_requests_jitter = 500
# Each process loads the application itself: database connections are never shared across a fork.
preload_app = False
accesslog = "-"
errorlog = "-"
# gunicorn's combined log line, written without building every header into atoms first
# (web/access_log.py); another GUNICORN_ACCESS_LOG_FORMAT goes through gunicorn's own path.
logger_class = "web.access_log.AccessLogger"
if os.environ.get("GUNICORN_ACCESS_LOG_FORMAT"):
    access_log_format = os.environ["GUNICORN_ACCESS_LOG_FORMAT"]


# /metrics sums every process: each gunicorn process (and each `flask worker run` of this host
# given the same directory) writes its latencies and call counts to its own file here, and a
# scrape of any process reads them all (web/metrics.py). Set before the application is imported.
# Wipe it when the host boots (docs/operations.md), not when gunicorn restarts: the workers'
# files in it are still live.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR",
                      os.path.join(tempfile.gettempdir(), f"permits-metrics-{os.getuid()}"))
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def child_exit(server, worker):
    """A gunicorn process has gone: its live gauges leave the scrape (its counts stay summed)."""
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
