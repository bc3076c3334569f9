"""gunicorn settings for the web tier (production shape: docs/operations.md "The process kinds").

`gunicorn 'app:create_app()'` reads this file from the working directory. Every value can be
overridden by an environment variable of the same name with the prefix GUNICORN_ (or on the
command line). The web tier only answers requests: every call to another system runs in the
worker processes (`flask worker run`), and every engine run is bounded by
ENGINE_STEP_MAX_SECONDS, so no request lasts longer than that plus the database's own time.
"""
import multiprocessing
import os


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
