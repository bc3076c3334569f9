"""Where a finished issued case's bytes are, quickly: bench/scale.py's seed cases only, no copies.

Seeds a database with bench/scale.py's real cases (three issued with their permits' validity
watches, two withdrawn, three waiting), then prints the issued cases' row data by table and by
large column when they finish, and again after every retention period has passed; the total
without the decision document (its bytes are `case_document`'s) is the figure issue 18 bounds.
The disk per case needs many cases: bench/scale.py prints it.

    .venv/bin/python bench/case_bytes.py        (SQLite; DATABASE_URL=postgresql://... for PostgreSQL)
"""
from __future__ import annotations

import os
import statistics
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.scratch import scratch_directory  # noqa: E402
os.environ.setdefault("GC_FREEZE_ON_START", "false")

import logging  # noqa: E402

from bench import scale  # noqa: E402


def main():
    logging.getLogger("alembic").setLevel(logging.WARNING)
    url = os.environ.get("DATABASE_URL")
    if url:
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix):]
        app = scale.prepare(url, "case_bytes")
    else:
        app = scale.prepare(f"sqlite:///{scratch_directory('bench-case-bytes-')}/cases.db", None)
    issued = scale.seed(app)["issued"]
    for title in ("at finish", "after every retention period"):
        if title != "at finish":
            from engine import clock, retention
            from engine.db import db
            with app.app_context():
                retention.run(now=clock.now() + timedelta(days=3650))
                db.session.remove()
        total = statistics.mean(scale.row_bytes(app, cid) for cid in issued)
        document = statistics.mean(scale.row_bytes(app, cid, "case_document") for cid in issued)
        print(scale.breakdown(app, issued, f"{title}, by table"))
        print(f"{title}: {total:,.0f} bytes of row data, {total - document:,.0f} without the decision document\n")


if __name__ == "__main__":
    main()
