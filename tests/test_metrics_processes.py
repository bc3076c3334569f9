"""/metrics in the production shape: two gunicorn processes and a separate `flask worker run`.

One scrape, answered by whichever gunicorn process, counts the requests both processes served
and the police call the worker process made (PROMETHEUS_MULTIPROC_DIR, set by gunicorn.conf.py
and given to the worker); the worker's own endpoint (--metrics-port) shows its calls too.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
POLICE_CALL = "police.request_check"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(url: str) -> dict:
    answer = requests.get(f"{url}/metrics", timeout=30, headers={"Connection": "close"})
    assert answer.status_code == 200, answer.text[:2000]
    return _samples(answer.text)


def _samples(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _count(samples: dict, name: str, **labels) -> float:
    return sum(value for (sample, found), value in samples.items()
               if sample == name and all(dict(found).get(k) == v for k, v in labels.items()))


def _wait(what, predicate, seconds=90.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"waited {seconds:.0f} s for {what}")


@pytest.fixture
def production_shape(tmp_path):
    from handlers.demo import application
    metrics_dir = tmp_path / "metrics"
    env = dict(os.environ, FLASK_APP="app:create_app", DATABASE_URL=f"sqlite:///{tmp_path / 'service.db'}",
               DEPLOY_ON_START="false", SCHEDULER_ENABLED="false", GUNICORN_WORKERS="2", GUNICORN_THREADS="2",
               PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), METRICS_NETWORKS='["127.0.0.0/8"]',
               SWEEP_INTERVAL_SECONDS="0.5")
    env.pop("GUNICORN_BIND", None)
    flask = [sys.executable, "-m", "flask"]
    year = str(date.today().year)
    for command in (["db", "upgrade"], ["reference", "load-dev"], ["processes", "deploy"],
                    ["reference", "set-quota", "AST", year, "1000"]):
        subprocess.run(flask + command, cwd=ROOT, env=env, check=True, capture_output=True)
    token = subprocess.run(flask + ["tokens", "create", "portal", "--scope", "applications:write"],
                           cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.split()[-1]
    web_port, worker_port = _free_port(), _free_port()
    logs = [open(tmp_path / name, "w") for name in ("web.log", "worker.log")]
    # Each gunicorn process is replaced after 4 requests: the requests of the test are served by
    # many processes, most of them gone by the time of the scrape.
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{web_port}",
                            "--max-requests", "4", "--max-requests-jitter", "0", "app:create_app()"],
                           cwd=ROOT, env=env, stdout=logs[0], stderr=subprocess.STDOUT)
    worker = subprocess.Popen(flask + ["worker", "run", "--metrics-port", str(worker_port)], cwd=ROOT, env=env,
                              stdout=logs[1], stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{web_port}"
    healthy = []

    def health():
        answer = requests.get(f"{base}/health", timeout=30, headers={"Connection": "close"})
        healthy.append(answer.status_code == 200)
        return answer.status_code == 200
    try:
        _wait("the web tier", health)
        body = application(("Karimov", "Aziz", "900312", "3", "UZ"), date.today())
        body.update(kind="issue", application_no="METRICS-0001", channel="egov", region="AST")
        yield {"base": base, "worker": f"http://127.0.0.1:{worker_port}", "token": token, "body": body,
               "dir": metrics_dir, "health": health, "healthy": healthy}
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()


def _pids(directory: Path) -> set[str]:
    return {p.stem.rsplit("_", 1)[-1] for p in directory.glob("histogram_*.db")}


def test_one_scrape_sums_every_web_process_and_the_worker_process(production_shape):
    base, health = production_shape["base"], production_shape["health"]
    filed = requests.post(f"{base}/api/v1/applications", json=production_shape["body"], timeout=60,
                          headers={"Authorization": f"Bearer {production_shape['token']}"})
    assert filed.status_code == 201, filed.text
    for _ in range(30):
        _wait("a health check answered", health, 30)

    def police_called():
        scraped = _scrape(base)
        return scraped if _count(scraped, "external_call_duration_seconds_count", operator=POLICE_CALL) >= 1 else None
    _wait("the worker's police call in the web tier's /metrics", police_called)

    answered = sum(production_shape["healthy"])
    assert answered >= 31
    # Latencies were written by many processes (gunicorn's, replaced every 4 requests, and the worker).
    assert len(_pids(production_shape["dir"])) >= 8, sorted(_pids(production_shape["dir"]))
    for _ in range(6):  # whichever process answers, a scrape counts every process's requests
        scraped = _scrape(base)
        assert _count(scraped, "http_request_duration_seconds_count", route="/health", status="200") == answered
        assert _count(scraped, "http_request_duration_seconds_count", route="/api/v1/applications",
                      method="POST", status="201") == 1
        assert _count(scraped, "external_call_duration_seconds_count", operator=POLICE_CALL) >= 1
        assert _count(scraped, "process_instances", process_id="permit_issue") == 1

    own = _scrape(production_shape["worker"])
    assert _count(own, "external_call_duration_seconds_count", operator=POLICE_CALL) >= 1


def test_a_worker_refuses_a_metrics_port_that_is_not_a_port(tmp_path):
    env = dict(os.environ, FLASK_APP="app:create_app", DATABASE_URL=f"sqlite:///{tmp_path / 'w.db'}",
               DEPLOY_ON_START="false", SCHEDULER_ENABLED="false", WORKER_METRICS_PORT="ninety")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    flask = [sys.executable, "-m", "flask"]
    subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    refused = subprocess.run(flask + ["worker", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "WORKER_METRICS_PORT: 'ninety' is not a port number" in refused.stderr + refused.stdout
    refused = subprocess.run(flask + ["worker", "run", "--metrics-port", "0"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--metrics-port" in refused.stderr
