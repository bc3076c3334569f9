"""What dumping an answer through its schema costs (issue 17): the same payloads serialized as
before (json.dumps of the view's dict) and as now (web/api/operation.dump: marshmallow's dump,
the dumped body validated against the schema, undeclared fields found, then json.dumps).

Payloads: one case as GET /cases/{id} answers it (steps, deadlines, a permit with its history,
an outcome with grounds, 30 history events), and a page of 200 case summaries (GET /cases
with limit=200, the largest page). Rounds alternate, so a change of machine speed falls on both.
Prints microseconds per answer and the ratio now/before.

    .venv/bin/python bench/api_dump.py [REPEATS [ROUNDS]]
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_directory  # noqa: E402

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import config as config_module  # noqa: E402
from app import create_app  # noqa: E402

AT = "2026-03-20T10:00:00+05:00"


def case_summary(i: int) -> dict:
    return {"case_id": f"00000000-0000-4000-8000-{i:012d}", "kind": "issue", "application_no": f"EGOV-2026-{i:06d}",
            "channel": "egov", "region": "AST", "status": "completed",
            "outcome": {"code": "refused", "decided_at": AT, "decided_by": "aigul.officer", "grounds": [
                {"code": "tax_underpaid", "title": "Tax underpaid", "check": "tax.amount", "evidence": "Short by 1 KZT.",
                 "legal_basis": "Tax Code, art. 1", "due_kzt": 207600, "paid_kzt": 207599, "shortfall_kzt": 1}]},
            "permit_no": None, "applicant": {"iin": "900515300018", "name": "Karimov Rustam"},
            "created_at": AT, "decided_at": AT}


def case_view() -> dict:
    view = case_summary(1)
    view.update({
        "status": "in_progress", "created_by": "api:egov-portal", "permit_no": "AST-2026-17",
        "current_steps": [{"name": "Decide on the permit", "lane": "Officer", "due_at": AT, "task_id": None}] * 2,
        "deadlines": [{"name": n, "rule": "working_days(2)", "start": AT, "due_at": AT, "calendar_version": "843a",
                       "met": None} for n in ("police_answer", "decision", "employer_consent")],
        "permit": {"permit_no": "AST-2026-17", "region": "AST", "status": "active",
                   "holder": {"iin": "900515300018", "name": "Karimov Rustam", "last_name": "Karimov",
                              "first_name": "Rustam", "patronymic": None, "citizenship": "UZ"},
                   "employer": {"iin": "750203400027", "name": "Saule Nurlanova"},
                   "valid_from": "2026-04-01", "valid_to": "2027-03-31", "months": 12, "issued_at": AT,
                   "issued_by_case": "00000000-0000-4000-8000-000000000001", "ended_at": None, "revocation": None,
                   "history": [{"event": "issued", "at": AT, "case_id": None, "actor": "worker",
                                "details": {"months": 12}}] * 5},
        "history": [{"at": AT, "event": "task_completed", "actor": "aigul.officer", "step": "decide"}] * 30,
    })
    return view


def main(repeats: int = 200, rounds: int = 5):
    from web.api.shapes import dump
    from web.api.schemas import CasePageSchema, CaseSchema
    path = scratch_directory("bench-dump-") / "bench.db"
    cfg = type("BenchConfig", (config_module.TestConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    app = create_app(cfg)
    payloads = {"case": (CaseSchema, case_view(), repeats),
                "page of 200": (CasePageSchema, {"items": [case_summary(i) for i in range(200)],
                                                 "next_cursor": None}, max(1, repeats // 20))}
    with app.app_context():
        for name, (schema, payload, n) in payloads.items():
            before, now = [], []
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(n):
                    json.dumps(payload, ensure_ascii=False, default=str)
                before.append((time.perf_counter() - start) / n)
                start = time.perf_counter()
                for _ in range(n):
                    json.dumps(dump(schema, payload, "bench"), ensure_ascii=False, default=str)
                now.append((time.perf_counter() - start) / n)
            b, a = statistics.median(before) * 1e6, statistics.median(now) * 1e6
            print(f"{name:12s} json.dumps {b:9.1f} µs   dumped through {schema.__name__} {a:9.1f} µs   "
                  f"ratio {a / b:5.1f}x   (+{(a - b) / 1000:.2f} ms per answer)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
