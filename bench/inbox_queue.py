"""Does an inbox page cost the same with ten times more open tasks? Each sort order, its totals.

Builds two SQLite databases of open human-task rows (SMALL and SMALL x MULTIPLIER, spread over
20 regions, one region's officer asking; a fifth without a deadline), then times, alternately on
both, what one /inbox page runs: the first page and a page from a cursor in the middle (keyset,
both directions) for each sort order, and the counts (the total of the filter, the tasks before the
page). Prints the median of each and the ratio big/small: a page should stay near 1; a count
reads the filter's index range, so it grows with the tasks of that one region and role.

    .venv/bin/python bench/inbox_queue.py [--small 2000] [--multiplier 10] [--rounds 7]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GC_FREEZE_ON_START", "false")

REGIONS = [f"R{i:02d}" for i in range(19)] + ["AST"]
PAGE = 25


def build(path, count):
    """Task rows written straight into the file (sqlite3: no foreign key to instances checked)."""
    import sqlite3
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rng = random.Random(count)
    rows = []
    for i in range(count):
        created = start + timedelta(minutes=i)
        rows.append(dict(id=str(uuid.UUID(int=rng.getrandbits(128))), instance_id=str(uuid.uuid4()),
                         definition_id=1, process_id="permit_issue", bpmn_id="decide",
                         case_key=f"EGOV-2026-{rng.randrange(10**6):06d}",
                         name=rng.choice(["Decide on the permit", "Check the documents", "Review the request"]),
                         role="officer", region=REGIONS[i % len(REGIONS)], status="ready", escalated=False,
                         due_at=None if i % 5 == 0 else stamp(created + timedelta(days=rng.randrange(1, 20))),
                         created_at=stamp(created)))
    columns = list(rows[0])
    with sqlite3.connect(path) as conn:
        conn.executemany(f"INSERT INTO human_task ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         [tuple(r[c] for c in columns) for r in rows])
        conn.execute("ANALYZE")


def stamp(moment):
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def operations():
    """Each operation, with the middle task of each order found beforehand (not timed)."""
    from engine import tasks
    actor = tasks.Actor("aigul", frozenset({"officer"}), frozenset({"AST"}))
    total = tasks.count(actor)
    found = {}
    for sort in tasks.SORTS:
        middle = tasks.queue_position(tasks.queue(actor, sort=sort, limit=total // 2)[-1], sort)

        def first(sort=sort):
            return tasks.queue(actor, sort=sort, limit=PAGE)

        def around(sort=sort, middle=middle):
            tasks.queue(actor, sort=sort, after=middle, limit=PAGE)
            tasks.queue(actor, sort=sort, descending=True, after=middle, limit=PAGE)

        def counts(sort=sort, middle=middle):
            tasks.count(actor, sort=sort)
            tasks.count(actor, sort=sort, descending=True, after=middle)
        found[f"{sort}: first page"] = first
        found[f"{sort}: next and previous page (middle)"] = around
        found[f"{sort}: total and tasks before (middle)"] = counts
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--multiplier", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from app import create_app
    from engine.db import db
    from tests.conftest import make_config
    directory = tempfile.mkdtemp(prefix="inbox-bench-")
    apps = {}
    for label, count in (("small", args.small), ("big", args.small * args.multiplier)):
        path = f"{directory}/{label}.db"
        app = create_app(make_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"))
        with app.app_context():
            db.create_all()
            db.engine.dispose()
        build(path, count)
        apps[label] = app
    timings = {label: {} for label in apps}
    prepared = {}
    for label, app in apps.items():
        with app.app_context():
            prepared[label] = operations()
    for _ in range(args.rounds):
        for label, app in apps.items():
            with app.app_context():
                for name, operation in prepared[label].items():
                    began = time.perf_counter()
                    operation()
                    timings[label].setdefault(name, []).append(time.perf_counter() - began)
                db.session.remove()
    print(f"open tasks: small {args.small}, big {args.small * args.multiplier} "
          f"(one region of {len(REGIONS)}: {args.small // len(REGIONS)} and "
          f"{args.small * args.multiplier // len(REGIONS)}); median of {args.rounds} rounds, ms")
    print(f"{'operation':46} {'small':>8} {'big':>8} {'big/small':>10}")
    for name in timings["small"]:
        small, big = (statistics.median(timings[label][name]) * 1000 for label in ("small", "big"))
        print(f"{name:46} {small:8.2f} {big:8.2f} {big / small:10.2f}")
    for app in apps.values():
        with app.app_context():
            db.engine.dispose()
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
