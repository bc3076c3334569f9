"""Does the officers' case search stay fast at 600,000 cases? The same searches on a small and a big database.

bench/scale.py copies a few real cases, so every copy has the same applicant: a name search
there finds one name or all of them. This builds case rows with varied names instead: surnames
and given names made from stems and endings (about a thousand surnames, written in Cyrillic or
Latin, upper or mixed case), spread over the regions and a year, their folded name words
(case_name_token, as handlers.cases writes them), a process instance each, and for the cases in
progress (2.5 %) an officer task, some of them overdue. Then, in one process, it times each
search through the page (POST /search as an Astana officer) alternately on both databases and
prints the median of each, the ratio big/small and the rows the big one matched before paging.

A name search reads the matched cases through the token index and sorts them, so it grows with
the number of cases bearing that name (a common surname: about one case in a thousand), not
with the table; the ratio shows that growth, the milliseconds show what an officer waits.

SQLite: two files in a temporary directory. PostgreSQL: DATABASE_URL's database, in two schemas
(search_small, search_big) it drops and creates.

    .venv/bin/python bench/search.py [--small 6000] [--multiplier 100] [--rounds 7]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_directory  # noqa: E402
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("GC_FREEZE_ON_START", "false")

import sqlalchemy as sa  # noqa: E402

from scale import REGIONS, prepare  # noqa: E402

STEMS = ["Карим", "Нурлан", "Ахмед", "Рахим", "Юсуп", "Сайфулл", "Абдулл", "Ержан", "Серик", "Болат",
         "Тимур", "Руслан", "Жумаб", "Кайрат", "Мурат", "Азамат", "Бахыт", "Дауле", "Есим", "Галым",
         "Ильяс", "Камал", "Latif", "Мансур", "Назар", "Олжас", "Пулат", "Рустам", "Санжар", "Талгат",
         "Умар", "Фарх", "Хасан", "Шерз", "Эльд", "Юлдаш", "Якуб", "Әлім", "Қасым", "Ұлан", "Өмір",
         "Тохт", "Исма", "Собир", "Журабек", "Одил", "Анвар", "Бекзод", "Дилшод", "Зафар"]
ENDINGS = ["ов", "ова", "ев", "ева", "бек", "баев", "ұлы", "қызы", "ин", "ханов", "жанов",
           "алиев", "кулов", "пулатов", "ходжаев", "муратов", "назаров", "ибраев", "тоев", "ali"]
GIVEN = ["Рустам", "Ерлан", "Айгерим", "Динара", "Фарход", "Шахноза", "Бобур", "Мадина", "Жасур",
         "Нодира", "Азиз", "Сабина", "Тимур", "Лола", "Улугбек", "Гулнора", "Акмаль", "Зарина",
         "Камола", "Отабек", "Нурсултан", "Асель", "Данияр", "Жанар", "Ильхом", "Мохира"]
LATIN = str.maketrans({"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
                       "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
                       "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch",
                       "ш": "sh", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "ә": "a", "қ": "q",
                       "ұ": "u", "ө": "o", "ғ": "g", "ң": "n", "і": "i", "ү": "u", "һ": "h"})
OPEN_SHARE = 0.025
OFFICERS = [f"officer{n:02d}" for n in range(40)]
BATCH = 5000


def _written(name: str, rng: random.Random) -> str:
    """One writing of a Cyrillic name: as is, in Latin, or in capitals (channels differ)."""
    choice = rng.random()
    if choice < 0.5:
        return name
    latin = "".join(c.translate(LATIN) if c.islower() else c.lower().translate(LATIN).capitalize()
                    for c in name)
    return latin.upper() if choice < 0.75 else latin


def build(app, total: int, rng: random.Random) -> float:
    from engine import definitions, tasks
    from engine.db import db
    from handlers import names
    from tests.conftest import SAMPLE_BPMN
    started = time.monotonic()
    with app.app_context():
        deployed = definitions.deploy_file(SAMPLE_BPMN, dict(app.config, FORMS_DIR=str(SAMPLE_BPMN.parent / "forms")),
                                           actor="bench")
        definition_id = deployed[0].definition_id
        db.session.commit()
        meta = db.metadata
        cases_t, instances_t = meta.tables["permit_case"], meta.tables["process_instance"]
        tokens_t, tasks_t = meta.tables["case_name_token"], meta.tables["human_task"]
        now = datetime.now(timezone.utc)
        pending = {"permit_case": [], "process_instance": [], "case_name_token": [], "human_task": []}

        def flush(conn):
            for name, table in (("permit_case", cases_t), ("process_instance", instances_t),
                                ("case_name_token", tokens_t), ("human_task", tasks_t)):
                if pending[name]:
                    conn.execute(table.insert(), pending[name])
                    pending[name] = []

        with db.engine.begin() as conn:
            for n in range(total):
                case_id = str(uuid.uuid4())
                region = rng.choice(REGIONS)
                open_ = rng.random() < OPEN_SHARE
                created = now - timedelta(seconds=rng.uniform(3600, 10 * 86400) if open_
                                          else rng.uniform(10 * 86400, 365 * 86400))
                name = _written(f"{rng.choice(STEMS)}{rng.choice(ENDINGS)} {rng.choice(GIVEN)}", rng)
                pending["permit_case"].append({
                    "id": case_id, "kind": "issue", "application_no": f"SEARCH-{n:08d}", "region": region,
                    "applicant_iin": f"{rng.randrange(10**11, 10**12)}", "applicant_name": name,
                    "outcome_code": None if open_ else "issued", "created_at": created, "created_by": "bench",
                    "permit_no": None if open_ else f"{region}-{created.year}-{n:07d}",
                    "decided_at": None if open_ else created + timedelta(days=5)})
                pending["process_instance"].append({
                    "id": case_id, "definition_id": definition_id, "process_id": "sample_review",
                    "business_key": f"SEARCH-{n:08d}", "region": region,
                    "status": "in_progress" if open_ else "completed", "state": b"", "version": 1,
                    "started_by": "bench", "created_at": created, "updated_at": created,
                    "completed_at": None if open_ else created + timedelta(days=5)})
                pending["case_name_token"].extend({"token": t, "region": region, "case_id": case_id}
                                                  for t in names.tokens(name))
                if open_:
                    due = created + timedelta(days=rng.choice([2, 5, 15]))
                    pending["human_task"].append({
                        "id": str(uuid.uuid4()), "instance_id": case_id, "definition_id": definition_id,
                        "process_id": "sample_review", "bpmn_id": "review", "name": "Review", "role": "officer",
                        "region": region, "due_at": due, "status": tasks.READY, "escalated": False,
                        "assignee": rng.choice(OFFICERS + [None] * 10), "created_at": created})
                if len(pending["permit_case"]) >= BATCH:
                    flush(conn)
            flush(conn)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        db.session.remove()
    return time.monotonic() - started


class Session:
    def __init__(self, app):
        from engine.db import db
        from tests.inbox_support import FreshClient, csrf, make_user, sign_in
        self.app = app
        app.test_client_class = FreshClient
        with app.app_context():
            make_user("search.officer", ("officer",), "AST")
            db.session.commit()
            self.client = app.test_client()
            sign_in(self.client, "search.officer")
            self.token = csrf(self.client)
            db.session.remove()

    def run(self, fields: dict) -> tuple[float, str]:
        with self.app.app_context():
            started = time.perf_counter()
            response = self.client.post("/search", data={"csrf_token": self.token, **fields})
            elapsed = time.perf_counter() - started
            from engine.db import db
            db.session.remove()
        if response.status_code != 200:
            raise RuntimeError(f"{fields}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return elapsed, response.get_data(as_text=True)


SEARCHES = [
    ("surname (karimov)", {"q": "karimov"}),
    ("surname + given name", {"q": "karimov rustam"}),
    ("prefix of 4 letters (kari)", {"q": "kari"}),
    ("name + filters (status, dates)", {"q": "hasanov", "status": "completed", "filed_from": "2026-01-01"}),
    ("application number", {"q": "SEARCH-00000042"}),
    ("officer's cases", {"officer": "officer07"}),
    ("overdue", {"overdue": "1"}),
    ("kind filter only", {"kind": "issue"}),
    ("CSV of a surname", {"q": "karimov", "export": "csv"}),
]


def matched(app, q: str) -> int:
    """Cases of every region whose name has a word starting with each word of `q`."""
    from engine.db import db
    from handlers import case_search
    with app.app_context():
        found = len(case_search.find(case_search.Filters(q=q), limit=10**7))
        db.session.remove()
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=6000)
    parser.add_argument("--multiplier", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL")
    if url:
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix):]
        targets = [(url, "search_small"), (url, "search_big")]
    else:
        workdir = scratch_directory("bench-search-")
        targets = [(f"sqlite:///{workdir / name}.db", None) for name in ("small", "big")]
    sizes = [args.small, args.small * args.multiplier]
    apps = []
    for (target, schema), size in zip(targets, sizes):
        app = prepare(target, schema)
        print(f"built {size:,} cases in {build(app, size, random.Random(size)):.0f} s", flush=True)
        apps.append(app)
    small, big = Session(apps[0]), Session(apps[1])
    print(f"\n{'search':34} {'small ms':>9} {'big ms':>9} {'ratio':>6}  matched (big, every region)")
    for label, fields in SEARCHES:
        small.run(fields)
        big.run(fields)  # warm both
        a, b = [], []
        for _ in range(args.rounds):
            a.append(small.run(fields)[0])
            b.append(big.run(fields)[0])
        ms_a, ms_b = statistics.median(a) * 1000, statistics.median(b) * 1000
        found = matched(apps[1], fields["q"]) if fields.get("q", "").isalpha() or " " in fields.get("q", "") else ""
        print(f"{label:34} {ms_a:9.1f} {ms_b:9.1f} {ms_b / ms_a:6.2f}  {found}", flush=True)


if __name__ == "__main__":
    main()
