"""The deadline compliance report from stored deadlines, on a small and a big database.

Builds two SQLite databases (the real migrations) with SMALL and SMALL x MULTIPLIER cases (by
default 6,000 and 600,000) spread over a year and the country's 20 regions: for each case its
`permit_case` row (a realistic mix of outcomes, refusal grounds, decision times) and its three
statutory deadlines in `case_deadline` (met, missed, overdue and open in a realistic mix). Only
the tables the report reads are filled: it restores no workflow. Then it times, alternately on
both, the report for one region (a supervisor's page) and for every region (the administrator's,
the API without a region), and the deadline-count query alone, and prints the medians, the
ratio big/small and the time per thousand cases counted.

The report aggregates a year of cases, so its work grows with the cases it counts: the point is
that both queries read indexes only in order ((region, filed_month, ...) covering, and
permit_case (region, created_at, id)), never a table scan or a sort (tests/test_query_plans.py).

    .venv/bin/python bench/compliance.py [--small 6000] [--multiplier 100] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_directory  # noqa: E402
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("GC_FREEZE_ON_START", "false")

import sqlalchemy as sa  # noqa: E402

from scale import REGIONS, prepare  # noqa: E402

ALMATY = ZoneInfo("Asia/Almaty")
YEAR = 2026
BATCH = 20_000


def build(app, total: int, rng: random.Random) -> float:
    from engine.db import db
    from handlers.cases import Case
    from handlers.compliance import STATUTORY, CaseDeadline
    started = time.monotonic()
    start = datetime(YEAR, 1, 1, tzinfo=ALMATY)
    now = datetime(YEAR, 12, 20, tzinfo=ALMATY)
    with app.app_context(), db.engine.begin() as conn:
        cases, deadlines = [], []
        for n in range(total):
            created = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
            region = rng.choice(REGIONS)
            case_id = str(uuid.uuid4())
            decided = created + timedelta(days=rng.uniform(1, 20)) if rng.random() < 0.9 else None
            if decided is not None and decided > now:
                decided = None
            code = None if decided is None else rng.choice(["issued"] * 8 + ["refused", "not_accepted"])
            grounds = [{"code": rng.choice(["quota_exhausted", "police_refusal", "documents_missing"])}] \
                if code in ("refused", "not_accepted") else []
            cases.append({"id": case_id, "kind": "issue", "application_no": f"BENCH-{n:08d}", "region": region,
                          "created_at": created, "created_by": "bench", "decided_at": decided,
                          "outcome_code": code, "outcome": {"code": code, "grounds": grounds} if code else None})
            month = created.strftime("%Y-%m")
            for name in STATUTORY:
                due = created + timedelta(days=rng.choice([5, 10, 15]))
                roll = rng.random()
                if decided is not None or roll < 0.6:
                    met = roll < 0.85
                    closed = due - timedelta(hours=1) if met else due + timedelta(days=1)
                else:
                    met, closed = None, None
                deadlines.append({"instance_id": case_id, "name": name, "region": region, "filed_month": month,
                                  "due_at": due, "closed_at": closed, "met": met})
            if len(cases) >= BATCH:
                conn.execute(Case.__table__.insert(), cases)
                conn.execute(CaseDeadline.__table__.insert(), deadlines)
                cases, deadlines = [], []
        if cases:
            conn.execute(Case.__table__.insert(), cases)
            conn.execute(CaseDeadline.__table__.insert(), deadlines)
        conn.exec_driver_sql("ANALYZE")
    return time.monotonic() - started


def operations():
    from engine.db import db
    from handlers import compliance
    now = datetime(YEAR, 12, 20, tzinfo=ALMATY)
    return [
        ("report, one region (supervisor)", lambda: compliance.report(YEAR, frozenset({"AST"}), now=now)),
        ("report, every region (administrator)", lambda: compliance.report(YEAR, None, now=now)),
        ("deadline counts alone, every region",
         lambda: db.session.execute(compliance.deadline_counts_query(YEAR, REGIONS, now)).all()),
    ]


def timed(app, op) -> float:
    from engine.db import db
    with app.app_context():
        started = time.perf_counter()
        op()
        elapsed = time.perf_counter() - started
        db.session.remove()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=6000)
    parser.add_argument("--multiplier", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    started = time.monotonic()
    workdir = scratch_directory("bench-compliance-")
    sizes = [args.small, args.small * args.multiplier]
    apps = []
    for name, size in zip(("small", "big"), sizes):
        app = prepare(f"sqlite:///{workdir / name}.db", None)
        print(f"built {size:,} cases in {build(app, size, random.Random(size)):.0f} s", flush=True)
        apps.append(app)
    with apps[1].app_context():
        from engine.db import db
        from handlers import compliance
        plan = db.session.execute(sa.text("EXPLAIN QUERY PLAN " + str(
            compliance.deadline_counts_query(YEAR, REGIONS, datetime(YEAR, 12, 20, tzinfo=ALMATY))
            .compile(db.engine, compile_kwargs={"literal_binds": True})))).all()
        print("deadline counts plan (big):", "; ".join(row[3] for row in plan))
        db.session.remove()
    print(f"\n{'operation':40} {sizes[0]:>10,} {sizes[1]:>10,}   ratio  per 1,000 cases (big)")
    for label, op in operations():
        small, big = [], []
        for _ in range(args.rounds):
            small.append(timed(apps[0], op))
            big.append(timed(apps[1], op))
        a, b = statistics.median(small), statistics.median(big)
        counted = sizes[1] / len(REGIONS) if "one region" in label else sizes[1]
        print(f"{label:40} {a * 1000:8.1f}ms {b * 1000:8.1f}ms  {b / a:6.1f}  {b * 1000 / (counted / 1000):6.3f}ms")
    print(f"run time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
