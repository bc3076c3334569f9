"""Does the service stay fast as cases pile up? The same operations on a small and a big database.

Builds two databases of the same shape: SMALL cases and SMALL x MULTIPLIER cases (by default
6,000 and 600,000), each from real rows: a few cases run through the real procedures (issued with
their permit's validity watch, withdrawn, waiting for the officer's decision), then copied with new
ids, numbers and regions, spread over a year of creation times. About 2.5 % of the copies are
cases in progress (ten days of a year's flow); the finished copies' index columns are relabelled to
a realistic mix of kinds (issue, extension, revocation) and outcomes (issued, refused,
not_accepted, withdrawn), the rows themselves are the real ones. The seeds' rows are read once
and copied set-based: a plan row per copy (family, region, time shift, kind, outcome) drawn here,
then one INSERT ... SELECT per seed family and table computing each copy's ids and numbers in SQL
(generic over the tables and columns that exist); the copied tables' secondary indexes are
dropped for the load and made again from their own definitions, then ANALYZE (PostgreSQL: VACUUM
ANALYZE, as autovacuum would). Then, in one process, it times each operation alternately on both
databases and prints the median of each and the ratio big/small (target <= 1.5), every list at a
page the small database fills too (PAGE), and the bytes per finished issued case: its row data
when it finishes, and its row data and its share of the disk (tables with indexes).

SQLite: two files in a temporary directory, removed at the end unless --keep (about 17 GB at
600,000 cases, the decision documents mostly). PostgreSQL: DATABASE_URL's database, in two schemas (scale_small, scale_big) it
drops and creates.

    .venv/bin/python bench/scale.py [--small 6000] [--multiplier 100] [--rounds 7] [--keep]

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
from bench.scratch import scratch_directory  # noqa: E402
os.environ.setdefault("GC_FREEZE_ON_START", "false")

import sqlalchemy as sa  # noqa: E402

REGIONS = ["ABA", "AKM", "AKT", "ALM", "ATY", "ZAP", "ZHA", "ZHT", "KAR", "KUS", "KZY", "MAN", "PAV",
           "SEV", "TUR", "ULT", "VOS", "AST", "ALA", "SHY"]
KINDS = [("issue", 80), ("extension", 15), ("revocation", 5)]
OUTCOMES = [("issued", 75), ("refused", 12), ("not_accepted", 8), ("withdrawn", 5)]
OPEN_SHARE = 0.025
# Every list is timed at a page the small database fills too (an Astana officer has 11 open tasks
# of 6,000 cases, 15 withdrawn cases): a ratio measures the growth with the tables, not a page of
# 50 rows against one of 11. Supervision is timed for every region (95 overdue tasks at 6,000).
PAGE = 10


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
        INBOX_PAGE_SIZE = PAGE
        AUDIT_ARCHIVE_DIR = str(scratch_directory("bench-audit-archive-"))

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


def family(conn, meta, case_id: str, counted: bool = False) -> dict:
    """Every row of one case: its case row, instance, tasks, timers, jobs, audit, notifications,
    police requests, quota unit, permit with its events, and the permit's validity watch; when
    `counted` (the bytes of a case), also the rows keyed by its case id (its name-search words),
    which the copies do without (they all bear the seed's name)."""
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
        elif counted and "case_id" in table.c:
            where = table.c.case_id.in_(ids)
        else:
            continue
        found = [dict(r._mapping) for r in conn.execute(sa.select(table).where(where))]
        if found:
            rows[name] = found
    return rows


class Multiplier:
    """Copies the seed families set-based: a plan row per copy (its number, family, region, time
    shift, kind, outcome) drawn in Python, then one INSERT ... SELECT per family and table that
    reads the seed rows joined with the plan and computes each copy's values in SQL. Generic over
    the tables and columns that exist: a string primary key (or a task/instance id) becomes a
    new id per copy, the application and permit numbers new numbers wherever they appear, every
    timestamp shifts by the copy's shift, every region column takes the copy's region, an
    integer primary key (and the foreign keys to it) a new key per copy."""

    def __init__(self, conn, meta, fams: list[dict]):
        self.conn, self.meta, self.fams = conn, meta, fams
        self.pg = conn.dialect.name == "postgresql"
        self.int_pk = {}   # table -> (column, base, width)
        for name, table in meta.tables.items():
            pk = list(table.primary_key.columns)
            if len(pk) == 1 and isinstance(pk[0].type, (sa.Integer, sa.BigInteger)):
                width = max((len(f.get(name, [])) for f in fams), default=0)
                if width:
                    base = (conn.execute(sa.select(sa.func.max(pk[0]))).scalar() or 0) + 1
                    self.int_pk[name] = (pk[0].name, base, width)

    # -- SQL pieces, per dialect
    def _hex(self, literal_prefix: str) -> str:
        if self.pg:
            return f"{_lit(literal_prefix)} || lpad(to_hex(p.n), 12, '0')"
        return f"{_lit(literal_prefix)} || printf('%012x', p.n)"

    def _text(self, column: str) -> str:
        return f"{column}::text" if self.pg else column

    def _pad(self, column: str, width: int) -> str:
        if self.pg:
            return f"lpad({column}::text, {width}, '0')"
        return f"printf('%0{width}d', {column})"

    def _shift(self, column: str) -> str:
        if self.pg:
            return f"{column} + p.shift * interval '1 second'"
        # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff' on SQLite: shift the seconds, keep the fraction
        return f"strftime('%Y-%m-%d %H:%M:%S', {column}, p.modifier) || substr({column}, 20)"

    def mapping(self, fam: dict) -> dict[str, str]:
        """old value -> SQL expression of the copy's value."""
        out: dict[str, str] = {}
        for name, rows in fam.items():
            pk = list(self.meta.tables[name].primary_key.columns)
            for row in rows:
                if len(pk) == 1 and isinstance(row[pk[0].name], str):
                    old = row[pk[0].name]
                    out.setdefault(old, self._hex(old[:24]) if len(old) == 36
                                   else f"{_lit(old + '-')} || {self._text('p.n')}")
                for col in ("task_id", "instance_id"):
                    if isinstance(row.get(col), str) and len(row[col]) == 36:
                        out.setdefault(row[col], self._hex(row[col][:24]))
        case = fam["permit_case"][0]
        if case["application_no"]:
            out[case["application_no"]] = f"'SCALE-' || {self._pad('p.n', 8)}"
        for permit in fam.get("permit", []):
            out[permit["number"]] = f"p.region || {_lit('-%s-' % permit['year'])} || {self._pad('p.seq', 7)}"
        return out

    def _int_key(self, target: str, column: str, rows_of_target: list) -> str:
        key, base, width = self.int_pk[target]
        cases = " ".join(f"WHEN {int(r[key])} THEN {i}" for i, r in enumerate(rows_of_target))
        return f"{base} + p.n * {width} + CASE {column} {cases} END"

    def copy_family(self, index: int, fam: dict):
        mapping = self.mapping(fam)
        for table in self.meta.sorted_tables:
            rows = fam.get(table.name)
            if not rows:
                continue
            names, exprs = [], []
            for c in table.columns:
                src = f's."{c.name}"'
                expr = src
                fk_targets = [fk.column.table.name for fk in c.foreign_keys if fk.column.table.name in self.int_pk
                              and fk.column.name == self.int_pk[fk.column.table.name][0]]
                if table.name in self.int_pk and c.name == self.int_pk[table.name][0]:
                    expr = self._int_key(table.name, src, rows)
                elif fk_targets and fam.get(fk_targets[0]):
                    expr = self._int_key(fk_targets[0], src, fam[fk_targets[0]])
                elif table.name == "permit" and c.name == "sequence":
                    expr = "p.seq"
                elif table.name == "permit_case" and c.name == "kind":
                    expr = f"coalesce(p.kind, {src})"
                elif table.name == "permit_case" and c.name == "outcome_code":
                    expr = f"coalesce(p.outcome, {src})"
                elif table.name == "permit_case" and c.name == "outcome":
                    expr = (f"CASE WHEN p.outcome IS NULL THEN {src} ELSE "
                            + (f"(coalesce({src}::jsonb, '{{}}'::jsonb) || jsonb_build_object('code', p.outcome))::json"
                               if self.pg else f"json_set(coalesce({src}, '{{}}'), '$.code', p.outcome)") + " END")
                elif c.name == "region":
                    expr = f"CASE WHEN {src} IS NULL OR {src} = '' THEN {src} ELSE p.region END"
                elif isinstance(c.type, sa.types.TypeDecorator) and isinstance(c.type.impl, sa.DateTime) \
                        or isinstance(c.type, sa.DateTime):
                    expr = self._shift(src)
                elif isinstance(c.type, sa.String):
                    values = {r[c.name] for r in rows if isinstance(r[c.name], str) and r[c.name] in mapping}
                    if values:
                        whens = " ".join(f"WHEN {_lit(v)} THEN {mapping[v]}" for v in sorted(values))
                        expr = f"CASE {src} {whens} ELSE {src} END"
                names.append(f'"{c.name}"')
                exprs.append(expr)
            pk = list(table.primary_key.columns)
            if len(pk) == 1:
                where = f's."{pk[0].name}" IN ({", ".join(_lit(r[pk[0].name]) for r in rows)})'
            else:
                cols = ", ".join(f's."{c.name}"' for c in pk)
                values = ", ".join("(" + ", ".join(_lit(r[c.name]) for c in pk) + ")" for r in rows)
                where = f"({cols}) IN (VALUES {values})"
            self.conn.exec_driver_sql(
                f'INSERT INTO "{table.name}" ({", ".join(names)}) SELECT {", ".join(exprs)} '
                f'FROM bench_plan p JOIN "{table.name}" s ON {where} WHERE p.fam = {index} ORDER BY p.n')

    def sequences(self):
        if not self.pg:
            return
        for name, (column, _, _) in self.int_pk.items():
            self.conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{name}', '{column}'), "
                f"(SELECT coalesce(max({column}), 0) + 1 FROM {name}), false) "
                f"WHERE pg_get_serial_sequence('{name}', '{column}') IS NOT NULL")


def _lit(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def build(app, total: int, shapes: dict, rng: random.Random) -> float:
    from engine.db import db
    started = time.monotonic()
    with app.app_context():
        meta = db.metadata
        db.session.remove()
        db.engine.dispose()
        with db.engine.connect() as conn:
            pg = conn.dialect.name == "postgresql"
            if pg:
                conn.exec_driver_sql("SET synchronous_commit = off")
                conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            else:  # one writer, a throw-away file: no WAL (it would write every page twice), no syncs
                raw = conn.connection.driver_connection  # outside SQLAlchemy's transaction
                raw.execute("PRAGMA journal_mode = DELETE")
                raw.execute("PRAGMA synchronous = OFF")
                raw.execute("PRAGMA cache_size = -400000")
            conn.commit()
            with conn.begin():
                order = [(shape, cid) for shape, ids in shapes.items() for cid in ids]
                fams = [family(conn, meta, cid) for _, cid in order]
                plan = _plan(total, order, fams, rng)
                multiplier = Multiplier(conn, meta, fams)
                tables = sorted({name for fam in fams for name in fam})
                indexes = _drop_indexes(conn, tables, pg)
                _load_plan(conn, plan, pg)
                for index, fam in enumerate(fams):
                    multiplier.copy_family(index, fam)
                copied = time.monotonic()
                for sql in indexes:  # the timed queries run with every index the migrations made
                    conn.exec_driver_sql(sql)
                indexed = time.monotonic()
                multiplier.sequences()
                conn.exec_driver_sql("DROP TABLE bench_plan")
            if pg:
                conn.connection.driver_connection.autocommit = True
                for name in tables:  # as autovacuum would: the visibility map for index-only scans, statistics
                    conn.exec_driver_sql(f'VACUUM (ANALYZE) "{name}"')
                conn.connection.driver_connection.autocommit = False
            else:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
                conn.connection.driver_connection.execute("PRAGMA journal_mode = WAL")
            conn.commit()
        db.engine.dispose()
    print(f"  {total:,} copies {copied - started:.0f} s, {len(indexes)} indexes {indexed - copied:.0f} s, "
          f"{'vacuum and ' if pg else ''}analyze {time.monotonic() - indexed:.0f} s", flush=True)
    return time.monotonic() - started


def _plan(total, order, fams, rng) -> list[tuple]:
    """One row per copy: (n, family, region, shift in seconds, SQLite's shift modifier, kind, outcome,
    permit sequence)."""
    by_shape: dict[str, list[int]] = {}
    for index, (shape, _) in enumerate(order):
        by_shape.setdefault(shape, []).append(index)
    now = datetime.now(timezone.utc)
    kinds = [k for k, w in KINDS for _ in range(w)]
    outcomes = [o for o, w in OUTCOMES for _ in range(w)]
    rows = []
    for n in range(total):
        kind = outcome = None
        if rng.random() < OPEN_SHARE:
            fam = rng.choice(by_shape["open"])
            created = now - timedelta(seconds=rng.uniform(3600, 10 * 86400))
        else:
            outcome = rng.choice(outcomes)
            fam = rng.choice(by_shape["withdrawn"] if outcome == "withdrawn" else by_shape["issued"])
            created = now - timedelta(seconds=rng.uniform(10 * 86400, 365 * 86400))
            kind = rng.choice(kinds)
        region = rng.choice(REGIONS)
        shift = int((created - fams[fam]["permit_case"][0]["created_at"]).total_seconds())
        rows.append((fam, region, shift, f"{shift:+d} seconds", kind, outcome))
    # A family's copies numbered in a row: each INSERT ... SELECT then appends to every key it
    # makes (interleaved numbers would split pages all over tables larger than the cache).
    rows.sort(key=lambda row: row[0])
    return [(n, *row, 1_000_000 + n) for n, row in enumerate(rows)]


def _load_plan(conn, plan, pg):
    temp = "TEMP " if pg else ""
    conn.exec_driver_sql(f"CREATE {temp}TABLE bench_plan (n integer PRIMARY KEY, fam integer, region varchar(10), "
                         "shift bigint, modifier varchar(30), kind varchar(20), outcome varchar(20), seq integer)")
    if pg:
        with conn.connection.driver_connection.cursor() as cur:
            with cur.copy("COPY bench_plan FROM STDIN") as copy:
                for row in plan:
                    copy.write_row(row)
    else:
        conn.connection.driver_connection.executemany("INSERT INTO bench_plan VALUES (?, ?, ?, ?, ?, ?, ?, ?)", plan)
    conn.exec_driver_sql("CREATE INDEX bench_plan_fam ON bench_plan (fam, n)")
    conn.exec_driver_sql("ANALYZE bench_plan")


def _drop_indexes(conn, tables, pg) -> list[str]:
    """Drops the secondary indexes of the tables copied into (a bulk load then index builds are
    faster than index inserts row by row); returns the statements that make them again."""
    names = ", ".join(_lit(t) for t in tables)
    if pg:
        found = conn.exec_driver_sql(
            f"SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            f"AND tablename IN ({names}) AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace)").all()
    else:
        found = conn.exec_driver_sql(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({names})").all()
    for name, _ in found:
        conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


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
        make_user("scale.supervisor", ("supervisor", "admin"), "AST")
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

    def close(self):
        """End its transactions and connections: an open snapshot of one schema's session would
        keep PostgreSQL's VACUUM from freeing the rows retention deletes in the other."""
        from engine.db import db
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()

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
        return s.api.get("/api/v1/cases", headers=s.headers, query_string={"limit": PAGE, **query})
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
    ("GET /tasks", lambda s: s.api.get("/api/v1/tasks", headers=s.region_headers, query_string={"limit": PAGE})),
    ("supervision (every region)", lambda s: s.supervisor.get("/supervision")),
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
                                                          created_to="2026-03-15T00:00:00+05:00")))
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
            fam = family(conn, db.metadata, case_id, counted=True)
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
                for name, rows in family(conn, db.metadata, case_id, counted=True).items():
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
            # this schema's tables only: a bare VACUUM FULL rewrites the whole database, the big schema too
            for (name,) in raw.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall():
                raw.execute(f'VACUUM FULL "{schema}"."{name}"')
    data = statistics.mean(row_bytes(app, cid) for cid in issued)
    return data, disk_bytes(app, schema, path)


def _copy_file(source: str, target: str):
    import sqlite3
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=6000)
    parser.add_argument("--multiplier", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the SQLite files (their directory is printed)")
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
    seeded = None
    for (target, schema, path), size in zip(targets, sizes):
        if path and seeded:  # SQLite: the big database starts as a copy of the small one's seeds
            _copy_file(seeded, path)
            app = make_app(target, schema)
        else:
            app = prepare(target, schema)
            shapes = seed(app)
            print(f"seeded at {time.monotonic() - started:.0f} s", flush=True)
            if path:
                seeded = str(Path(path).with_suffix(".seeded"))
                _copy_file(path, seeded)
        if finished_bytes is None:
            issued = shapes["issued"]
            finished_bytes = statistics.mean(row_bytes(app, cid) for cid in issued)
            document_bytes = statistics.mean(row_bytes(app, cid, "case_document") for cid in issued)
            finished_breakdown = breakdown(app, issued, "at finish, by table")
        built = build(app, size, shapes, random.Random(size))
        print(f"built {size:,} cases in {built:.0f} s (at {time.monotonic() - started:.0f} s)", flush=True)
        apps.append((app, schema, path, size))
    if seeded:
        os.remove(seeded)
    small, big = Session(apps[0][0]), Session(apps[1][0])
    results = time_all(small, big, args.rounds)
    big.close()
    small.close()
    print(f"timed at {time.monotonic() - started:.0f} s", flush=True)
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
    if not url:
        if args.keep:
            print(f"databases kept in {workdir}")
        else:
            import shutil
            shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
