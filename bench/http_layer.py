"""What the HTTP layer costs: server CPU per instance over HTTP against the same flow in-process.

The flow is the sample diagram (tests/bpmn/sample.bpmn: a service task, three scores in parallel,
a gateway, an officer's user task). In-process, through the engine: start, find the task, claim,
complete, read the instance. Over HTTP, the same five calls (POST /process-instances,
GET /tasks?instance_id=, POST claim, POST complete, GET /process-instances/{id}) from one serial
client against gunicorn with one worker process and one thread. Rounds alternate, so a change of
machine speed falls on both. Server CPU is the gunicorn worker's user + system time (from /proc);
the database server's own CPU (PostgreSQL) is not counted. Target: HTTP <= 2.5x in-process.

Measured twice, each time in alternating rounds:
- on one core (the judged figure): this script, its in-process run and the gunicorn worker are
  pinned to the same core, so the worker's CPU is the work its requests do;
- on every core: the worker wakes for each request on whichever core is idle. With one serial
  client it sleeps between requests, and on this virtual machine what a wake-up costs (caches
  gone cold on the other core) changes by half within an hour: a bare WSGI answer under the same
  gunicorn settings measured 0.40 and 0.58 ms per request twenty minutes apart. Printed for the
  record; a loaded server, whose workers do not sleep between requests, pays little of it.
The last line is a bare WSGI answer (bench/http_bare.py) under the same gunicorn settings, to a
request like the flow's, measured after each column's rounds: what a request costs the worker
before any of the service's code runs (gunicorn's parsing, the socket, the access line). Its
small working set barely feels the change of core that the service's requests do.

    .venv/bin/python bench/http_layer.py [INSTANCES_PER_ROUND [ROUNDS]]

(Not bench/http.py: a script's folder comes first on the path, and a file named http.py there
would hide the standard library's http package from every script in bench/.)

SQLite by default (a fresh file), DATABASE_URL's PostgreSQL database otherwise (emptied first).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_directory  # noqa: E402

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import requests  # noqa: E402

from bench.submit import _empty_postgres, _free_port, _wait_until_up  # noqa: E402

SAMPLE = ROOT / "tests" / "bpmn" / "sample.bpmn"
FORMS = ROOT / "tests" / "bpmn" / "forms"
DATA = {"subject": "bench", "scores": {"a": 1, "b": 2, "c": 3}, "region": "AST"}
DECISION = {"decision": "approve"}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return found


def set_cores(pids, cores) -> None:
    """Let every thread of these processes run on these cores only."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), cores)


class InProcess:
    def __init__(self, env):
        os.environ.update(env)
        import tests.sample_operators  # noqa: F401
        from app import create_app
        from engine import tasks
        self.app = create_app()
        self.context = self.app.app_context()
        self.context.push()
        self.officer = tasks.Actor("bench.officer", frozenset({"officer"}), frozenset({"AST"}))

    def run(self, n: int) -> float:
        from engine import instances, tasks
        from engine.db import db
        from web.api import present
        started = time.process_time()
        for _ in range(n):
            row = instances.start("sample_review", json.loads(json.dumps(DATA)), actor="bench")
            [task] = tasks.queue(self.officer, instance_id=row.id, limit=2)
            tasks.claim(task.id, self.officer)
            tasks.complete(task.id, self.officer, dict(DECISION))
            db.session.remove()
            assert present.instance_view(instances.get(row.id))["status"] == "completed"
            db.session.remove()
        return time.process_time() - started


class OverHttp:
    def __init__(self, base: str, token: str, worker_pid: int):
        self.base, self.worker_pid = base, worker_pid
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def run(self, n: int) -> float:
        before = cpu_seconds(self.worker_pid)
        for _ in range(n):
            started = self._call("post", "/process-instances", 201, json={"process_id": "sample_review",
                                                                           "data": DATA})
            [task] = self._call("get", "/tasks", 200, params={"instance_id": started["id"]})["items"]
            self._call("post", f"/tasks/{task['id']}/claim", 200)
            self._call("post", f"/tasks/{task['id']}/complete", 200, json={"data": DECISION})
            assert self._call("get", f"/process-instances/{started['id']}", 200)["status"] == "completed"
        return cpu_seconds(self.worker_pid) - before

    def _call(self, method, path, status, **kwargs):
        response = self.http.request(method, f"{self.base}/api/v1{path}", timeout=60, **kwargs)
        if response.status_code != status:
            raise SystemExit(f"{method.upper()} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()


def main(n_per_round: int = 100, rounds: int = 5) -> None:
    workdir = scratch_directory("bench-http-")
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    env = dict(os.environ, FLASK_APP="app:create_app", DATABASE_URL=database, FORMS_DIR=str(FORMS),
               DEPLOY_ON_START="false", SCHEDULER_ENABLED="false", GC_FREEZE_ON_START="true")
    flask = [sys.executable, "-m", "flask"]
    _empty_postgres(database)
    subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    local = InProcess(env)
    from engine import definitions
    definitions.deploy_file(SAMPLE, local.app.config, actor="bench")  # its operators live in this process
    token = subprocess.run(flask + ["tokens", "create", "bench-officer", "--scope", "instances:write",
                                    "--scope", "tasks:write", "--role", "officer", "--region", "AST",
                                    "--assignee", "bench.officer"],
                           cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.split()[-1]
    web, port = _gunicorn("bench.http_wsgi:app", env, workdir / "web.log")
    bare, bare_port = _gunicorn("bench.http_bare:app", env, workdir / "bare.log")
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base)
        _wait_until_up(f"http://127.0.0.1:{bare_port}")
        [worker] = children(web.pid)
        [bare_worker] = children(bare.pid)
        http = OverHttp(base, token, worker)
        every_core = os.sched_getaffinity(0)
        measured, floor = {}, {}
        for name, cores in (("one core", {min(every_core)}), ("every core", every_core)):
            set_cores([os.getpid(), web.pid, worker, bare.pid, bare_worker], cores)
            http.run(10), local.run(10)  # warm both: imports, caches, first statements
            http_cpu = local_cpu = 0.0
            for _ in range(rounds):
                http_cpu += http.run(n_per_round)
                local_cpu += local.run(n_per_round)
            measured[name] = (local_cpu, http_cpu)
            floor[name] = _bare_request_cpu(f"http://127.0.0.1:{bare_port}", token, bare_worker, 1000)
        total = n_per_round * rounds
        kind = "PostgreSQL" if database.startswith("postgres") else "SQLite"
        print(f"sample flow, {total} instances per column in {rounds} alternating rounds ({kind})")
        print(f"{'':32}{'one core':>10}{'every core':>12}")
        one, every = measured["one core"], measured["every core"]
        print(f"{'in-process through the engine':30}: {one[0] / total * 1000:7.2f} ms {every[0] / total * 1000:8.2f} ms")
        print(f"{'over HTTP, gunicorn worker':30}: {one[1] / total * 1000:7.2f} ms {every[1] / total * 1000:8.2f} ms"
              "   CPU per instance (5 calls)")
        print(f"{'ratio HTTP/in-process':30}: {one[1] / one[0]:7.2f}    {every[1] / every[0]:8.2f}"
              "      (target <= 2.5, on one core)")
        print(f"{'a bare WSGI answer, same setup':30}: {floor['one core'] * 1000:7.2f} ms "
              f"{floor['every core'] * 1000:8.2f} ms   worker CPU per request, before any of the service's code")
    finally:
        for server in (web, bare):
            server.terminate()
            server.wait(30)


def _gunicorn(app: str, env: dict, log: Path):
    """gunicorn with the service's settings (gunicorn.conf.py), one worker process of one thread
    kept for the whole run (two measures take more requests than GUNICORN_MAX_REQUESTS)."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", app],
                              cwd=ROOT, env=dict(env, GUNICORN_WORKERS="1", GUNICORN_THREADS="1",
                                                 GUNICORN_MAX_REQUESTS="0"),
                              stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    return server, port


def _bare_request_cpu(base: str, token: str, worker_pid: int, n: int) -> float:
    """The bare answer's worker CPU per request, for a request like the flow's (token, JSON body)."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    for _ in range(50):
        http.post(f"{base}/api/v1/tasks", json={"data": DECISION}, timeout=60)
    before = cpu_seconds(worker_pid)
    for _ in range(n):
        http.post(f"{base}/api/v1/tasks", json={"data": DECISION}, timeout=60)
    return (cpu_seconds(worker_pid) - before) / n


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
