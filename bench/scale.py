"""Does the service stay fast as cases pile up? The same operations on a small and a big database.

Builds two databases of the same shape: SMALL cases and SMALL x MULTIPLIER cases (by default
6,000 and 600,000), each from real rows: a few cases run through the real procedures (issued with
their permit's validity watch, withdrawn, waiting for the officer's decision), then copied with new
ids, numbers and regions, spread over a year of creation times. About 2.5 % of the copies are
cases in progress (ten days of a year's flow); the finished copies' index columns are relabelled to
a realistic mix of kinds (issue, extension, revocation) and outcomes (issued, refused,
not_accepted, withdrawn), the rows themselves are the real ones. Then, in one process, it times
each operation alternately on both databases and prints the median of each and the ratio big/small
(target <= 1.5), and the bytes per finished issued case: its row data when it finishes, and its
row data and its share of the disk (tables with indexes).

SQLite: two files in a temporary directory. PostgreSQL: DATABASE_URL's database, in two schemas
(scale_small, scale_big) it drops and creates.

    .venv/bin/python bench/scale.py [--small 6000] [--multiplier 100] [--rounds 7]

Run time on this 2-core machine with the defaults: see the figures in the README (Scale).
"""
from __future__ import annotations

import argparse
import os
import random
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

import sqlalchemy as sa  # noqa: E402

REGIONS = ["ABA", "AKM", "AKT", "ALM", "ATY", "ZAP", "ZHA", "ZHT", "KAR", "KUS", "KZY", "MAN", "PAV",
           "SEV", "TUR", "ULT", "VOS", "AST", "ALA", "SHY"]
KINDS = [("issue", 80), ("extension", 15), ("revocation", 5)]
OUTCOMES = [("issued", 75), ("refused", 12), ("not_accepted", 8), ("withdrawn", 5)]
OPEN_SHARE = 0.025
BATCH = 5000


def make_app(url: str, schema: str | None):
    from app import create_app
    from config import Config

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        SQLALCHEMY_ENGINE_OPTIONS = ({"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {})
        DEPLOY_ON_START = False
        SCHEDULER_ENABLED = "false"
        GC_FREEZE_ON_START = False
        WTF_CSRF_ENABLED = True
        AUDIT_ARCHIVE_DIR = tempfile.mkdtemp(prefix="bench-audit-archive-")

    return create_app(BenchConfig)


def prepare(url: str, schema: str | None):
    if schema:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
    app = make_app(url, schema)
    with app.app_context():
        from flask_migrate import upgrade
        upgrade(directory=str(ROOT / "migrations"))
    return app


# --- seeds: real cases through the real procedures ------------------------------------------

def seed(app) -> dict:
    """A few real cases of each shape; returns {shape: [case ids]}."""
    import time_machine
    from engine.db import db
    from handlers import cases, reference
    from tests import permit_support as ps

    with app.app_context():
        reference.load({
            "quota": {r: {"2026": 10_000_000, "2027": 10_000_000} for r in REGIONS},
            "mci": {"2025": 3932, "2026": 4325, "2027": 4325}, "tax_rate": {"2025": 2, "2026": 4, "2027": 4},
            "regional_coefficient": {"*": 1.0},
            "eligible_citizenship": ["UZ", "TJ", "AZ", "MD", "GE", "UA"],
            "police_watch": [], "police_silent": [],
        }, actor="bench", regions=app.config["REGIONS"])
        db.session.commit()
        ps.deploy_procedures(app)
        # The service has run a day: one case finished and retention made its compression dictionary.
        ps.issue_permit(app, at=ps.almaty(2026, 6, 9, 10, 0), application_no="SEED-WARM-UP")
        from engine import state_dictionary
        state_dictionary.ensure()
        shapes = {"issued": [], "withdrawn": [], "open": []}
        for i in range(3):
            number = ps.issue_permit(app, at=ps.almaty(2026, 6, 10 + i, 10, 0), application_no=f"SEED-ISS-{i}")
            shapes["issued"].append(_case_of_permit(number))
        for i in range(2):
            with time_machine.travel(ps.almaty(2026, 6, 20 + i, 10, 0), tick=False):
                case_id = ps.file_application(ps.application(application_no=f"SEED-WD-{i}")).id
                ps.sweep(app)
                cases.withdraw(cases.get(case_id), "egov-portal", "bench")
                shapes["withdrawn"].append(case_id)
        for i in range(3):
            with time_machine.travel(ps.almaty(2026, 6, 24 + i, 10, 0), tick=False):
                case_id = ps.file_application(ps.application(application_no=f"SEED-OPEN-{i}")).id
                ps.sweep(app)
                assert ps.open_task(case_id) is not None
                shapes["open"].append(case_id)
        db.session.remove()
    return shapes


def _case_of_permit(number):
    from engine.db import db
    from handlers.cases import Case
    return db.session.execute(sa.select(Case.id).where(Case.permit_no == number)).scalar_one()


def family(conn, meta, case_id: str) -> dict:
    """Every row of one case: its case row, instance, tasks, timers, jobs, audit, notifications,
    police requests, quota unit, permit with its events, and the permit's validity watch."""
    t = meta.tables
    ids = {case_id}
    permit_no = conn.execute(sa.select(t["permit_case"].c.permit_no).where(t["permit_case"].c.id == case_id)).scalar()
    if permit_no:
        ids |= set(conn.execute(sa.select(t["process_instance"].c.id)
                                .where(t["process_instance"].c.business_key == permit_no)).scalars())
    rows = {}
    for name, table in t.items():
        if name == "permit_case" or name == "process_instance":
            where = table.c.id.in_(ids)
        elif name == "permit":
            where = table.c.issued_by_case.in_(ids)
        elif name == "permit_event":
            where = table.c.permit_id.in_(sa.select(t["permit"].c.id).where(t["permit"].c.issued_by_case.in_(ids)))
        elif "instance_id" in table.c:
            where = table.c.instance_id.in_(ids)
        else:
            continue
        found = [dict(r._mapping) for r in conn.execute(sa.select(table).where(where))]
        if found:
            rows[name] = found
    return rows


class Copier:
    """Copies families with new ids, numbers, region and creation time (bulk inserts)."""

    def __init__(self, conn, meta):
        self.conn, self.meta = conn, meta
        self.pending: dict[str, list] = {}
        self.next_int = {}
        for name, table in meta.tables.items():
            pk = list(table.primary_key.columns)
            if len(pk) == 1 and isinstance(pk[0].type, (sa.Integer, sa.BigInteger)):
                self.next_int[name] = (conn.execute(sa.select(sa.func.max(pk[0]))).scalar() or 0) + 1
        self.sequence = 1_000_000

    def copy(self, fam: dict, n: int, region: str, created_at: datetime, kind=None, outcome=None):
        base = fam["permit_case"][0]["created_at"]
        delta = created_at - base
        mapping: dict = {}
        for name, rows in fam.items():
            table = self.meta.tables[name]
            pk = list(table.primary_key.columns)
            for row in rows:
                if len(pk) == 1 and isinstance(row[pk[0].name], str):
                    old = row[pk[0].name]
                    mapping.setdefault(old, str(uuid.uuid4()) if len(old) == 36 else f"{old}-{n}")
                for col in ("task_id", "instance_id"):
                    if isinstance(row.get(col), str) and len(row[col]) == 36:
                        mapping.setdefault(row[col], str(uuid.uuid4()))
        case = fam["permit_case"][0]
        if case["application_no"]:
            mapping[case["application_no"]] = f"SCALE-{n:08d}"
        permit_ids = {}
        for permit in fam.get("permit", []):
            self.sequence += 1
            mapping[permit["number"]] = f"{region}-{permit['year']}-{self.sequence:07d}"
            permit_ids[permit["id"]] = self.next_int["permit"]
            self.next_int["permit"] += 1
        for name, rows in fam.items():
            table = self.meta.tables[name]
            pk = list(table.primary_key.columns)
            int_pk = pk[0].name if name in self.next_int else None
            for row in rows:
                new = {}
                for key, value in row.items():
                    if isinstance(value, str):
                        value = mapping.get(value, value)
                    elif isinstance(value, datetime) and value.tzinfo is not None:
                        value = value + delta
                    new[key] = value
                if "region" in new and new["region"]:
                    new["region"] = region
                if name == "permit":
                    new["id"] = permit_ids[row["id"]]
                    new["sequence"] = self.sequence
                elif name == "permit_event":
                    new["permit_id"] = permit_ids[row["permit_id"]]
                    new["id"] = self._next(name)
                elif int_pk:
                    new[int_pk] = self._next(name)
                if name == "permit_case":
                    if kind:
                        new["kind"] = kind
                    if outcome:
                        new["outcome_code"] = outcome
                        new["outcome"] = dict(new.get("outcome") or {}, code=outcome)
                self.pending.setdefault(name, []).append(new)
        if sum(len(v) for v in self.pending.values()) >= BATCH:
            self.flush()

    def _next(self, name):
        value = self.next_int[name]
        self.next_int[name] += 1
        return value

    def flush(self):
        for name in [t.name for t in self.meta.sorted_tables]:
            rows = self.pending.pop(name, None)
            if rows:
                self.conn.execute(self.meta.tables[name].insert(), rows)


def build(app, total: int, shapes: dict, rng: random.Random) -> float:
    from engine.db import db
    started = time.monotonic()
    with app.app_context():
        meta = db.metadata
        with db.engine.begin() as conn:
            fams = {shape: [family(conn, meta, cid) for cid in ids] for shape, ids in shapes.items()}
            copier = Copier(conn, meta)
            now = datetime.now(timezone.utc)
            kinds = [k for k, w in KINDS for _ in range(w)]
            outcomes = [o for o, w in OUTCOMES for _ in range(w)]
            for n in range(total):
                if rng.random() < OPEN_SHARE:
                    fam = rng.choice(fams["open"])
                    created = now - timedelta(seconds=rng.uniform(3600, 10 * 86400))
                    copier.copy(fam, n, rng.choice(REGIONS), created)
                    continue
                outcome = rng.choice(outcomes)
                fam = rng.choice(fams["withdrawn"] if outcome == "withdrawn" else fams["issued"])
                created = now - timedelta(seconds=rng.uniform(10 * 86400, 365 * 86400))
                copier.copy(fam, n, rng.choice(REGIONS), created, kind=rng.choice(kinds), outcome=outcome)
            copier.flush()
            if conn.dialect.name == "postgresql":  # rows came with their ids: move the sequences past them
                for name, table in meta.tables.items():
                    if name in copier.next_int:
                        column = list(table.primary_key.columns)[0].name
                        conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', '{column}'), "
                                             f"(SELECT coalesce(max({column}), 0) + 1 FROM {name}), false) "
                                             f"WHERE pg_get_serial_sequence('{name}', '{column}') IS NOT NULL"))
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        db.session.remove()
    return time.monotonic() - started


# --- the operations timed ---------------------------------------------------------------------

class Session:
    """One database's app, its test clients and tokens."""

    def __init__(self, app):
        from engine.db import db
        from tests.inbox_support import FreshClient, make_user, sign_in
        from web.api import clients
        self.app = app
        app.test_client_class = FreshClient
        self.ctx = app.app_context()
        self.ctx.push()
        make_user("scale.officer", ("officer",), "AST")
        make_user("scale.supervisor", ("supervisor",), "AST")
        db.session.commit()
        self.officer = app.test_client()
        sign_in(self.officer, "scale.officer")
        self.supervisor = app.test_client()
        sign_in(self.supervisor, "scale.supervisor")
        _, token = clients.create("scale-portal", ["applications:write", "cases:read", "tasks:write"],
                                  regions=None, role="officer", assignee="scale.officer", actor="bench")
        _, region_token = clients.create("scale-ast", ["tasks:write", "cases:read"], regions=["AST"],
                                         role="officer", assignee="scale.officer", actor="bench")
        db.session.commit()
        self.api = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.region_headers = {"Authorization": f"Bearer {region_token}"}
        from handlers.cases import Case
        row = db.session.execute(sa.select(Case).where(Case.application_no.like("SCALE-%"))
                                 .order_by(Case.created_at).limit(1)).scalar_one()
        self.case_id, self.application_no, self.iin = row.id, row.application_no, row.applicant_iin
        self.posted = 0
        db.session.remove()
        self.ctx.pop()

    def run(self, op):
        with self.app.app_context():
            started = time.perf_counter()
            response = op(self)
            elapsed = time.perf_counter() - started
            from engine.db import db
            db.session.remove()
        if response is not None and getattr(response, "status_code", 200) >= 400:
            raise RuntimeError(f"{op.__name__}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return elapsed


def _cases(**query):
    def op(s):
        return s.api.get("/api/v1/cases", headers=s.headers, query_string={"limit": 50, **query})
    return op


def _post_application(s):
    from tests.test_api_support import application
    s.posted += 1
    return s.api.post("/api/v1/applications", headers=s.headers,
                      json=application(application_no=f"BENCH-POST-{s.posted:06d}-{uuid.uuid4().hex[:6]}"))


def _timers(s):
    from engine import jobs, timers
    timers.due(100)
    jobs.due(100)


OPERATIONS = [
    ("inbox page 1 (HTML)", lambda s: s.officer.get("/inbox")),
    ("GET /tasks", lambda s: s.api.get("/api/v1/tasks", headers=s.region_headers)),
    ("supervision", lambda s: s.supervisor.get("/supervision")),
    ("due timers + jobs", _timers),
    ("inbox search", lambda s: s.officer.post("/search", data={"q": s.application_no,
                                                               "csrf_token": _token(s)})),
    ("inbox name search", lambda s: s.officer.post("/search", data={"q": "karimov", "csrf_token": _token(s)})),
    ("GET /cases/{id}", lambda s: s.api.get(f"/api/v1/cases/{s.case_id}", headers=s.headers)),
    ("GET /cases", _cases()),
]
for _key, _value in [("kind", "extension"), ("outcome", "refused"), ("outcome", "withdrawn"),
                     ("status", "incident"), ("status", "in_progress"), ("status", "completed")]:
    OPERATIONS.append((f"GET /cases?{_key}={_value}", _cases(**{_key: _value})))
    OPERATIONS.append((f"GET /cases?{_key}={_value}&region=AST", _cases(**{_key: _value, "region": "AST"})))
OPERATIONS.append(("GET /cases?region=AST", _cases(region="AST")))
OPERATIONS.append(("GET /cases?created_from..to", _cases(created_from="2026-03-01T00:00:00+05:00",
                                                          created_to="2026-03-02T00:00:00+05:00")))
OPERATIONS.append(("POST /applications", _post_application))

_TOKENS = {}


def _token(s):
    from tests.inbox_support import csrf
    if id(s) not in _TOKENS:  # a session's CSRF token stays valid: fetch it once
        _TOKENS[id(s)] = csrf(s.officer)
    return _TOKENS[id(s)]


def time_all(small: Session, big: Session, rounds: int) -> list[tuple[str, float, float]]:
    results = []
    for label, op in OPERATIONS:
        small.run(op)
        big.run(op)  # warm both
        a, b = [], []
        for _ in range(rounds):
            a.append(small.run(op))
            b.append(big.run(op))
        results.append((label, statistics.median(a), statistics.median(b)))
    return results


# --- bytes per finished issued case -----------------------------------------------------------

def row_bytes(app, case_id: str, only: str | None = None) -> int:
    """Bytes of row data of one case and its validity watch (column values as stored); `only`:
    of that table alone."""
    from engine.db import db
    with app.app_context():
        with db.engine.connect() as conn:
            fam = family(conn, db.metadata, case_id)
        db.session.remove()
    total = 0
    for name, rows in fam.items():
        if only is not None and name != only:
            continue
        for row in rows:
            for value in row.values():
                total += _size(value)
    return total


def _size(value) -> int:
    import json
    if value is None:
        return 0
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (dict, list)):
        return len(json.dumps(value, separators=(",", ":")).encode())
    if isinstance(value, bool):
        return 1
    return 8


def breakdown(app, case_ids, title: str, min_column: int = 40) -> str:
    """Where a case's row bytes are: per table its rows and bytes (mean over `case_ids`), and
    its columns of at least `min_column` bytes, largest first."""
    from engine.db import db
    tables: dict = {}
    with app.app_context():
        with db.engine.connect() as conn:
            for case_id in case_ids:
                for name, rows in family(conn, db.metadata, case_id).items():
                    entry = tables.setdefault(name, {"rows": 0, "bytes": 0, "columns": {}})
                    entry["rows"] += len(rows)
                    for row in rows:
                        for column, value in row.items():
                            size = _size(value)
                            entry["bytes"] += size
                            entry["columns"][column] = entry["columns"].get(column, 0) + size
        db.session.remove()
    n = len(case_ids)
    total = sum(entry["bytes"] for entry in tables.values()) / n
    lines = [f"{title}: {total:,.0f} bytes of row data per case"]
    for name, entry in sorted(tables.items(), key=lambda item: -item[1]["bytes"]):
        columns = ", ".join(f"{column} {size / n:,.0f}" for column, size in
                            sorted(entry["columns"].items(), key=lambda item: -item[1]) if size / n >= min_column)
        lines.append(f"  {name:22} {entry['rows'] / n:4.1f} rows {entry['bytes'] / n:8,.0f} bytes"
                     + (f"  ({columns})" if columns else ""))
    return "\n".join(lines)


def disk_by_table(app, schema: str | None, path: str | None, cases: int, top: int = 12) -> str:
    """Each table's share of the disk with its indexes, per case, largest first."""
    from engine.db import db
    with app.app_context():
        if path:
            rows = db.session.execute(sa.text(
                "SELECT m.tbl_name, sum(s.pgsize) FROM dbstat s JOIN sqlite_master m ON m.name = s.name "
                "GROUP BY m.tbl_name ORDER BY 2 DESC")).all()
        else:
            rows = db.session.execute(sa.text(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r' "
                "ORDER BY 2 DESC"), {"s": schema}).all()
        db.session.remove()
    return "  " + ", ".join(f"{name} {size / cases:,.0f}" for name, size in rows[:top])


def disk_bytes(app, schema: str | None, path: str | None) -> int:
    from engine.db import db
    with app.app_context():
        if path:
            db.session.remove()
            db.engine.dispose()
            return os.path.getsize(path)
        total = db.session.execute(sa.text(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relkind = 'r'"), {"s": schema}).scalar()
        db.session.remove()
        return int(total)


def after_retention(app, schema, path, issued) -> tuple[float, int]:
    """Run retention as if every period had passed; then the row data of the seed issued cases
    and the database's size on disk (after VACUUM, as the space would be reused)."""
    from engine import clock, retention
    from engine.db import db
    with app.app_context():
        retention.run(now=clock.now() + timedelta(days=3650))
        db.session.remove()
        db.engine.dispose()
    if path:
        import sqlite3
        with sqlite3.connect(path, isolation_level=None) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            raw.execute("VACUUM")
    else:
        import psycopg
        with psycopg.connect(os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True, options=f"-csearch_path={schema}") as raw:
            raw.execute("VACUUM FULL")
    data = statistics.mean(row_bytes(app, cid) for cid in issued)
    return data, disk_bytes(app, schema, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=6000)
    parser.add_argument("--multiplier", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    started = time.monotonic()
    url = os.environ.get("DATABASE_URL")
    if url:
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix):]
        targets = [(url, "scale_small", None), (url, "scale_big", None)]
    else:
        workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        targets = [(f"sqlite:///{workdir / name}.db", None, str(workdir / f"{name}.db")) for name in ("small", "big")]
    sizes = [args.small, args.small * args.multiplier]
    apps, finished_bytes = [], None
    for (target, schema, path), size in zip(targets, sizes):
        app = prepare(target, schema)
        shapes = seed(app)
        if finished_bytes is None:
            issued = shapes["issued"]
            finished_bytes = statistics.mean(row_bytes(app, cid) for cid in issued)
            document_bytes = statistics.mean(row_bytes(app, cid, "case_document") for cid in issued)
            finished_breakdown = breakdown(app, issued, "at finish, by table")
        built = build(app, size, shapes, random.Random(size))
        print(f"built {size:,} cases in {built:.0f} s", flush=True)
        apps.append((app, schema, path, size))
    small, big = Session(apps[0][0]), Session(apps[1][0])
    results = time_all(small, big, args.rounds)
    print(f"\n{'operation':45} {sizes[0]:>10,} {sizes[1]:>10,}   ratio")
    worst = 0.0
    for label, a, b in results:
        ratio = b / a
        worst = max(worst, ratio)
        print(f"{label:45} {a * 1000:8.2f}ms {b * 1000:8.2f}ms   {ratio:5.2f}")
    print(f"worst ratio {worst:.2f} (target <= 1.5)")
    app, schema, path, size = apps[1]
    print(f"\nfinished issued case with its validity watch: {finished_bytes:,.0f} bytes of row data at finish, "
          f"of which its decision document (PDF and HTML, kept as issued) {document_bytes:,.0f}, "
          f"the rest {finished_bytes - document_bytes:,.0f}")
    print(finished_breakdown)
    disk = disk_bytes(app, schema, path)
    print(f"disk, tables with indexes, per case of the big database: {disk / size:,.0f} bytes")
    print(disk_by_table(app, schema, path, size))
    app, schema, path, size = apps[0]
    retained = after_retention(app, schema, path, issued)
    print(f"after every retention period (small database, compacted, vacuumed): "
          f"{retained[0]:,.0f} bytes of row data per issued case ({retained[0] - document_bytes:,.0f} without "
          f"its document), {retained[1] / size:,.0f} bytes on disk per case")
    print(breakdown(app, issued, "after retention, by table"))
    print(disk_by_table(app, schema, path, size))
    print(f"run time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
