"""What reading a case costs now that the API and the case page share one read model.

The demo cases (handlers/demo.py: waiting, taken, issued, refused, not accepted, waiting for the
police, overdue) on a fresh SQLite file. For each, in-process and after a warm-up:
the read model alone (handlers/case_view.py build), GET /api/v1/cases/{id}, and the officers'
case page GET /cases/{id}. Prints SQL statements per read and the time of each read as a ratio
to the read model's (the rest is rendering: JSON, or HTML with translations and the documents).

    .venv/bin/python bench/case_reads.py [ROUNDS]
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_directory  # noqa: E402

import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402


def main(rounds: int) -> None:
    folder = scratch_directory("case-reads-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.db"
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from app import create_app
    from config import Config
    from engine import definitions, instances
    from engine.db import db
    from handlers import case_view, demo
    from handlers.cases import Case
    from web.api import clients
    from web.inbox import users

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = os.environ["DATABASE_URL"]
        SCHEDULER_ENABLED = False
        WTF_CSRF_ENABLED = False
        DEPLOY_ON_START = False

    app = create_app(BenchConfig)
    with app.app_context():
        upgrade()
        definitions.deploy_directory(app.config["PROCESSES_DIR"], app.config, actor="bench")
        demo.seed_cases(app.config)
        users.create_user("bench-officer", "bench-password-1", ["officer"], "AST", actor="bench")
        _, token = clients.create("bench", ["cases:read"], actor="bench")
        headers = {"Authorization": f"Bearer {token}"}
        case_ids = list(db.session.execute(sa.select(Case.id).where(Case.region == "AST")).scalars())
        web = app.test_client()
        page = web.get("/sign-in")
        import re
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
        web.post("/sign-in", data={"username": "bench-officer", "password": "bench-password-1",
                                   **({"csrf_token": csrf.group(1)} if csrf else {})})
        statements = [0]

        @sa.event.listens_for(db.engine, "before_cursor_execute")
        def _count(*_args):
            statements[0] += 1

        reads = {
            "read model": lambda cid: case_view.build(instances.get(cid)),
            "GET /api/v1/cases/{id}": lambda cid: _ok(web.get(f"/api/v1/cases/{cid}", headers=headers)),
            "GET /cases/{id} (page)": lambda cid: _ok(web.get(f"/cases/{cid}")),
        }
        for read in reads.values():  # warm-up: caches, templates, translations
            for cid in case_ids:
                read(cid)
                db.session.remove()
        times, counts = {name: [] for name in reads}, {name: [] for name in reads}
        for _ in range(rounds):
            for name, read in reads.items():
                for cid in case_ids:
                    db.session.remove()
                    instances.live_workflows().clear()  # each read restores its workflow, as a cold process would
                    statements[0] = 0
                    started = time.perf_counter()
                    read(cid)
                    times[name].append(time.perf_counter() - started)
                    counts[name].append(statements[0])
        base = statistics.median(times["read model"])
        print(f"{len(case_ids)} demo cases x {rounds} rounds, SQLite")
        for name in reads:
            median = statistics.median(times[name])
            print(f"  {name:24s} statements per read: median {statistics.median(counts[name]):.0f}, "
                  f"max {max(counts[name])}; time {median / base:.2f}x the read model's")


def _ok(response):
    if response.status_code != 200:
        raise SystemExit(f"{response.request.path} answered {response.status_code}")
    return response


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
