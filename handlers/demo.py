"""Demo data for development and demonstrations: accounts and cases of the permit procedure.

`flask demo seed` (seeding.py, run by `make run`) creates the accounts listed here and, when the
permit procedure is deployed, opens the demo cases below through the domain's own functions
(the case index, the reference data, the tax rule of handlers/tax.py). Existing accounts are
left as they are; cases are added only to a database without any.
"""
from __future__ import annotations

import zlib
from datetime import date, datetime, timedelta, timezone

import sqlalchemy as sa

from engine.db import db

from .i18n import N_

DEMO_PASSWORD = "permits-demo"
# (username, full name, roles, region, inbox language, position on documents)
OFFICER = N_("Chief specialist of the department of employment")
DEMO_USERS = (
    ("aigul", "Айгүл Серікқызы Серікова", ["officer"], "AST", "kk", OFFICER),
    ("berik", "Берик Нурланович Нурланов", ["officer"], "AST", "ru", OFFICER),
    ("dana", "Dana Akhmetova", ["officer"], "SHY", "ru", OFFICER),
    ("erlan", "Erlan Zhaksybekov", ["supervisor"], "AST", "ru", N_("Head of the department of employment")),
    ("gulnara", "Gulnara Omarova", ["analyst"], None, "ru", None),
    ("admin", "System Administrator", ["admin"], None, "en", None),
)


def seed_cases(config) -> list[str]:
    """Demo cases of the permit procedure in several states; lines saying what was done."""
    from engine import clock, definitions
    from .cases import Case
    if definitions.latest(PROCESS_ID) is None:
        return [f"demo cases skipped: process {PROCESS_ID} is not deployed "
                "(run `flask processes deploy` first)"]
    if db.session.execute(sa.select(sa.func.count()).select_from(Case)).scalar():
        return ["demo cases skipped: the database already has cases"]
    lines = [load_reference_data(config)]
    today = clock.local_today()
    opened = {}
    for number, region, person, changes, filed_days_ago, purpose in DEMO_CASES:
        try:
            opened[number] = open_demo_case(number, region, person, changes, filed_days_ago, today)
            lines.append(f"case {number} ({region}): opened — {purpose}")
        except Exception as err:  # one broken demo case must not stop the others
            db.session.rollback()
            lines.append(f"case {number}: not opened: {type(err).__name__}: {err}")
    lines.extend(_advance(opened))
    return lines


PROCESS_ID = "permit_issue"
DEMO_OFFICER = "aigul"

# (number, region, applicant (last, first, birth YYMMDD, sex digit, citizenship), changes to the
# application, days since filing, what the case shows)
DEMO_CASES = (
    ("DEMO-0001", "AST", ("Karimov", "Aziz", "900312", "3", "UZ"), {}, 0,
     "waits for an officer's decision"),
    ("DEMO-0002", "AST", ("Tursunov", "Bekzod", "910405", "3", "TJ"), {}, 0,
     "taken by aigul, waits for her decision"),
    ("DEMO-0003", "AST", ("Rahimova", "Dilnoza", "930721", "4", "UZ"), {}, 0,
     "issued by aigul"),
    ("DEMO-0004", "AST", ("Nazarov", "Farrukh", "870910", "3", "TJ"), {"tax_payment.amount_kzt": 1000}, 0,
     "refused: the tax prepaid is too little"),
    ("DEMO-0005", "AST", ("Aliyeva", "Nigora", None, None, "AZ"), {"applicant.iin": "880515400008",
                                                                    "applicant.birth_date": "1988-05-15"}, 0,
     "refused: the police object (watch list of the simulator)"),
    ("DEMO-0006", "AST", ("Saidov", "Jamshid", "950101", "3", "UZ"), {"documents": "without insurance"}, 0,
     "not accepted: the medical insurance is missing"),
    ("DEMO-0007", "AST", ("Mirzaeva", "Kamola", None, None, "UZ"), {"applicant.iin": "920320350008",
                                                                    "applicant.birth_date": "1992-03-20"}, 0,
     "waits for the police, who will not answer (silent list of the simulator)"),
    ("DEMO-0008", "SHY", ("Yusupov", "Jasur", "890228", "3", "UZ"), {}, 0,
     "waits for a decision in Shymkent (dana's region)"),
    ("DEMO-0009", "AST", ("Ismoilov", "Otabek", "960617", "3", "TJ"), {}, 6,
     "filed 6 days ago: the decision is overdue (supervision page)"),
)


def load_reference_data(config) -> str:
    """The development reference data (quotas, MCI, tax rates...) the procedure needs."""
    from engine import clock
    from . import reference
    from .cli import development_data
    today = clock.local_today()
    changed = reference.load(development_data(config, today), actor="demo", regions=config["REGIONS"])
    db.session.commit()
    return f"reference data for development loaded ({changed} value(s) changed)"


def open_demo_case(number, region, person, changes=None, filed_days_ago=0, today=None):
    """Open one issue case of the permit procedure for a made-up applicant, filed days ago."""
    from engine import clock
    from . import cases, reference
    today = today or clock.local_today()
    filed_on = today - timedelta(days=filed_days_ago)
    body = application(person, filed_on, changes, region=region,
                       tables=reference.tax_tables(filed_on.year, region))
    filed_at = clock.now() - timedelta(days=filed_days_ago)
    data = {"region": region, "kind": "issue", "application": body, "filed_at": filed_at.isoformat()}
    applicant = body["applicant"]
    return cases.open_case("issue", PROCESS_ID, data, region=region, created_by="demo",
                           application_no=number, channel="egov", applicant_iin=applicant["iin"],
                           applicant_name=f"{applicant['last_name']} {applicant['first_name']}")


def _advance(opened) -> list[str]:
    """Let the simulated police answer, then have the demo officer take and decide cases."""
    from engine import clock, scheduler, tasks, timers
    from . import police
    lines = []
    scheduler.run_jobs()  # the police requests, as a worker would send them
    police.deliver_due_replies(clock.now())
    officer = tasks.Actor(DEMO_OFFICER, frozenset({"officer"}), frozenset({"AST"}))
    for number, decision in (("DEMO-0002", None), ("DEMO-0003", {"data_matches": True, "decision": "issue"})):
        case = opened.get(number)
        task = _open_task(case.id) if case is not None else None
        if task is None:
            lines.append(f"case {number}: no decision task to take")
            continue
        try:
            tasks.claim(task.id, officer)
            if decision is not None:
                tasks.complete(task.id, officer, decision)
        except Exception as err:
            db.session.rollback()
            lines.append(f"case {number}: the demo decision failed: {type(err).__name__}: {err}")
    result = timers.run_due()
    lines.append(f"timers due now fired: {result}")
    return lines


def _open_task(instance_id):
    from engine import tasks
    return db.session.execute(sa.select(tasks.HumanTask).filter_by(
        instance_id=instance_id, status=tasks.READY)).scalars().first()


def application(person, filed_on: date, changes=None, region: str = "AST", tables=None) -> dict:
    """A well-formed issue application (the shape the API passes on) for a made-up applicant.

    `person` is (last name, first name, birth YYMMDD, IIN century-and-sex digit, citizenship);
    `changes` maps "section.field" to a new value. The tax prepaid is what handlers/tax.py says
    is due for the region, from `tables` (the reference data loaded; by default the law's
    figures with a coefficient of 1).
    """
    last, first, born, sex_digit, citizenship = person
    iin = _iin(born, sex_digit) if born else None
    body = {
        "applicant": {"iin": iin, "last_name": last, "first_name": first, "patronymic": None,
                      "citizenship": citizenship,
                      "birth_date": _birth_date(born, sex_digit) if born else None,
                      "passport_no": f"FA{zlib.crc32(last.encode()) % 10**7:07d}",
                      "passport_expiry": (filed_on + timedelta(days=900)).isoformat(),
                      "entry_date": (filed_on - timedelta(days=20)).isoformat()},
        "employer": {"iin": "771212400000" if _valid("771212400000") else _iin("771212", "4"),
                     "full_name": "Aigerim Nurlanovna Sadykova", "address": "Astana, Mangilik El 10, apt 5"},
        "period": {"months": 6, "start_date": (filed_on + timedelta(days=7)).isoformat()},
        "tax_payment": {"receipt_no": f"KGD-{zlib.crc32(first.encode()) % 10**6:06d}", "amount_kzt": None,
                        "paid_at": datetime.combine(filed_on, datetime.min.time(), timezone.utc).isoformat(),
                        "payer_iin": iin},
        "documents": [
            {"type": kind, "number": f"N-{i}", "issued_at": (filed_on - timedelta(days=30)).isoformat(),
             "valid_until": (filed_on + timedelta(days=300)).isoformat()}
            for i, kind in enumerate(("identity_document", "medical_certificate", "medical_insurance",
                                      "fingerprint_certificate", "tax_receipt"))],
    }
    for path, value in (changes or {}).items():
        if path == "documents":
            body["documents"] = [d for d in body["documents"] if d["type"] != "medical_insurance"]
            continue
        section, field = path.split(".")
        body[section][field] = value
    body["tax_payment"]["payer_iin"] = body["applicant"]["iin"]
    if body["tax_payment"]["amount_kzt"] is None:
        from . import tax
        body["tax_payment"]["amount_kzt"] = tax.tax_due(filed_on.year, body["period"]["months"], region,
                                                        tables if tables is not None else tax.default_tables([region]))
    return body


def _iin(born: str, sex_digit: str) -> str:
    from .identity import check_digit
    for serial in range(1, 10000):
        first_eleven = f"{born}{sex_digit}{serial:04d}"
        digit = check_digit(first_eleven)
        if digit is not None:
            return first_eleven + str(digit)
    raise ValueError(f"no IIN for {born}")


def _valid(iin: str) -> bool:
    from .identity import iin_is_valid
    return iin_is_valid(iin)


def _birth_date(born: str, sex_digit: str) -> str:
    century = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}[sex_digit]
    return f"{century + int(born[:2])}-{born[2:4]}-{born[4:6]}"
