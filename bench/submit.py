"""POST /applications latency with the police healthy and with the police hanging, in one run.

The production shape on this machine: gunicorn with gunicorn.conf.py (2 processes x 4 threads)
and one `flask worker run` process, on a fresh SQLite file (or DATABASE_URL's PostgreSQL
database, which it empties). The police system is a stub in this process that either answers
at once (healthy) or accepts the connection and never answers (hanging; each police call then
waits HTTP_TIMEOUT_SECONDS in a worker). Rounds alternate healthy and hanging, so a change of
machine speed falls on both. Prints p50/p95 of sequential submissions for each, the ratio
hanging/healthy, and the max/min spread of 8 concurrent submissions of one region.

Targets (issue "Asynchronous, bounded steps", 2-core machine): p95 <= 300 ms in both cases;
spread <= 3x.

    .venv/bin/python bench/submit.py [N_PER_ROUND [ROUNDS]]
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_directory  # noqa: E402


class Police:
    """Healthy: 202 at once. Hanging: reads the request, never answers."""

    def __init__(self):
        self.hanging = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.hanging.is_set():
                    outer.release.wait(600)
                    return
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/checks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def main(n_per_round: int = 30, rounds: int = 3) -> None:
    police = Police()
    workdir = scratch_directory("bench-submit-")
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    env = dict(os.environ, FLASK_APP="app:create_app", DATABASE_URL=database, POLICE_ADAPTER="http",
               POLICE_URL=police.url, DEPLOY_ON_START="false", SCHEDULER_ENABLED="false",
               GUNICORN_WORKERS="2", GUNICORN_THREADS="4")
    flask = [sys.executable, "-m", "flask"]
    _empty_postgres(database)
    for command in (["db", "upgrade"], ["reference", "load-dev"], ["processes", "deploy"]):
        subprocess.run(flask + command, cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(flask + ["reference", "set-quota", "AST", str(date.today().year), "100000"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run(flask + ["tokens", "create", "bench-portal", "--scope", "applications:write"],
                           cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.split()[-1]
    port = _free_port()
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "app:create_app()"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "web.log", "w"))
    worker = subprocess.Popen(flask + ["worker", "run"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(workdir / "worker.log", "w"))
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base)
        headers = {"Authorization": f"Bearer {token}"}
        numbers = iter(range(1, 10**6))
        submit = lambda: _submit(base, headers, next(numbers))  # noqa: E731
        for _ in range(5):  # warm both gunicorn processes
            submit()
        latencies = {"healthy": [], "hanging": []}
        spreads = {"healthy": [], "hanging": []}
        for _ in range(rounds):
            for mode in ("healthy", "hanging"):
                (police.hanging.set if mode == "hanging" else police.hanging.clear)()
                latencies[mode] += [submit() for _ in range(n_per_round)]
                spreads[mode].append(_concurrent(submit, 8))
        print(f"POST /api/v1/applications, {rounds} alternating rounds of {n_per_round} per mode "
              f"({'PostgreSQL' if database.startswith('postgres') else 'SQLite'}, gunicorn 2x4, one worker)")
        for mode, values in latencies.items():
            print(f"  police {mode:8s} p50 {_ms(_pct(values, 50))}  p95 {_ms(_pct(values, 95))}  "
                  f"max {_ms(max(values))}   (target p95 <= 300 ms)")
        ratio = _pct(latencies["hanging"], 95) / _pct(latencies["healthy"], 95)
        print(f"  ratio p95 hanging/healthy: {ratio:.2f}")
        for mode, values in spreads.items():
            worst = max(values, key=lambda v: v[0] / v[1])
            median = statistics.median(high / low for high, low in values)
            print(f"  8 concurrent AST submissions, police {mode:8s}: min {_ms(worst[1])} max {_ms(worst[0])} "
                  f"spread {worst[0] / worst[1]:.2f}x worst, {median:.2f}x median of {len(values)} rounds "
                  f"(target <= 3x)")
    finally:
        police.release.set()
        for process in (web, worker):
            process.terminate()
            process.wait(30)


def _submit(base, headers, number) -> float:
    from handlers.demo import application
    body = application(("Karimov", "Aziz", "900312", "3", "UZ"), date.today())
    body.update(kind="issue", application_no=f"BENCH-{os.getpid()}-{number:07d}", channel="egov", region="AST")
    started = time.perf_counter()
    response = requests.post(f"{base}/api/v1/applications", json=body, headers=headers, timeout=120)
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise SystemExit(f"submission answered {response.status_code}: {response.text[:300]}")
    return elapsed


def _concurrent(submit, count) -> tuple[float, float]:
    times = [0.0] * count
    barrier = threading.Barrier(count)

    def one(i):
        barrier.wait()
        times[i] = submit()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(times), min(times)


def _pct(values, p) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if p < 100 else max(values)


def _ms(seconds) -> str:
    return f"{seconds * 1000:6.0f} ms"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(base) -> None:
    for _ in range(300):
        try:
            if requests.get(f"{base}/health", timeout=10).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.1)
    raise SystemExit("the service did not come up")


def _empty_postgres(database) -> None:
    if not database.startswith("postgres"):
        return
    import sqlalchemy as sa
    engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
