"""Building permit applications and driving the permit procedures in tests."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from engine import definitions, scheduler, tasks
from engine.db import db
from handlers.scenarios import with_changes

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
ALMATY = ZoneInfo("Asia/Almaty")
OFFICER = tasks.Actor("aigul.officer", frozenset({"officer"}), frozenset({"AST"}))
OTHER_REGION_OFFICER = tasks.Actor("dana.officer", frozenset({"officer"}), frozenset({"SHY"}))
SUPERVISOR = tasks.Actor("erlan.supervisor", frozenset({"supervisor"}), frozenset({"AST"}))


def almaty(*args) -> datetime:
    return datetime(*args, tzinfo=ALMATY)


def make_iin(birth: str, century_sex: int, serial: str) -> str:
    """A valid IIN for YYMMDD `birth`, digit 7 and a 4-digit serial (check digit computed)."""
    first = f"{birth}{century_sex}{serial}"
    for weights in (range(1, 12), [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]):
        digit = sum(int(d) * w for d, w in zip(first, weights)) % 11
        if digit != 10:
            return first + str(digit)
    raise ValueError("no check digit for these digits: pick another serial")


APPLICANT_IIN = make_iin("900515", 3, "0001")   # a man born 15.05.1990
EMPLOYER_IIN = make_iin("750203", 4, "0002")    # a woman born 03.02.1975


def application(**changes) -> dict:
    """A complete, valid application for 12 months from 01.04.2026 in Astana (tax paid in full)."""
    body = {
        "kind": "issue", "application_no": "EGOV-2026-000001", "channel": "egov", "region": "AST",
        "applicant": {"iin": APPLICANT_IIN, "last_name": "Karimov", "first_name": "Rustam",
                      "citizenship": "UZ", "birth_date": "1990-05-15", "passport_no": "FA1234567",
                      "passport_expiry": "2030-01-31", "entry_date": "2026-02-01"},
        "employer": {"iin": EMPLOYER_IIN, "full_name": "Saule Nurlanova", "address": "Astana, Mangilik El 1"},
        "period": {"months": 12, "start_date": "2026-04-01"},
        "tax_payment": {"receipt_no": "KGD-555", "amount_kzt": 207_600, "paid_at": "2026-03-18T12:00:00+05:00",
                        "payer_iin": APPLICANT_IIN},
        "documents": [
            {"type": "identity_document", "number": "FA1234567", "issued_at": "2020-02-01", "valid_until": "2030-01-31"},
            {"type": "medical_certificate", "number": "MED-1", "issued_at": "2026-03-01", "valid_until": "2026-09-01"},
            {"type": "medical_insurance", "number": "INS-1", "issued_at": "2026-03-01", "valid_until": "2027-04-01"},
            {"type": "fingerprint_certificate", "number": "FP-1", "issued_at": "2026-02-10", "valid_until": None},
            {"type": "tax_receipt", "number": "KGD-555", "issued_at": "2026-03-18", "valid_until": None},
        ],
    }
    return _changed(body, changes)


def load_reference(app, quota=5, region="AST", year=2026, watch=(), silent=()):
    from handlers import reference
    reference.load({
        "quota": {region: {str(year): quota}},
        "mci": {"2025": 3932, "2026": 4325}, "tax_rate": {"2025": 2, "2026": 4},
        "regional_coefficient": {"*": 1.0},
        "eligible_citizenship": ["UZ", "TJ", "AZ", "MD", "GE", "UA"],
        "police_watch": [dict(w) for w in watch], "police_silent": [dict(s) for s in silent],
    }, actor="test", regions=app.config["REGIONS"])
    db.session.commit()


PROCEDURES = ("permit_validity", "permit_issue", "permit_extension", "permit_revocation")


def deploy_procedures(app, *names):
    """Deploy the permit procedures (all of them unless named). The issue procedure starts each
    permit's validity watch, so deploying it deploys `permit_validity` too."""
    config = dict(app.config, FORMS_DIR=str(PROCESSES / "forms"))
    names = list(names or PROCEDURES)
    if "permit_issue" in names and "permit_validity" not in names:
        names.insert(0, "permit_validity")
    for name in names:
        definitions.deploy_file(PROCESSES / f"{name}.bpmn", config, actor="test")


def file_application(body=None, filed_at=None, client="egov-portal", worker=True):
    """What POST /applications does, without HTTP: the case row and its procedure, started; then,
    unless `worker` is False, what a worker does within a second: the checks and the police request."""
    from engine import clock
    from handlers import cases
    body = body or application()
    return _worked(worker, cases.open_case(
        body["kind"], "permit_issue",
        {"region": body["region"], "kind": body["kind"], "application": body,
         "filed_at": (filed_at or clock.now()).isoformat()},
        region=body["region"], created_by=client, application_no=body["application_no"],
        channel=body["channel"], applicant_iin=body["applicant"]["iin"],
        applicant_name=f"{body['applicant']['last_name']} {body['applicant']['first_name']}"))


def _worked(worker, case):
    if worker:
        run_worker()
    return case


def sweep(app):
    """One sweep of the scheduler: due timers, then due police answers and notifications."""
    db.session.remove()
    scheduler.sweep(app, with_jobs=True)
    db.session.remove()


def run_worker():
    """What a worker does within a second of a step that wrote jobs: run every due job."""
    scheduler.run_jobs()


def open_task(case_id, bpmn_id="decide"):
    return db.session.execute(sa.select(tasks.HumanTask).filter_by(
        instance_id=case_id, bpmn_id=bpmn_id, status="ready")).scalar_one_or_none()


def decide(case_id, form, actor=OFFICER):
    task = open_task(case_id)
    tasks.claim(task.id, actor)
    return tasks.complete(task.id, actor, form)


def case_data(case_id):
    from engine import instances
    row = instances.get(case_id)
    return instances.current_data(instances.peek(row))


# --- the life of a permit: issue it, find its watch, extend or revoke it --------------------

ISSUE = {"data_matches": True, "decision": "issue"}
SIX_MONTHS_TAX_2026 = 4 * 4325 * 6  # 103,800 KZT


def issue_permit(app, at=None, months=6, start_date="2026-04-01", **changes) -> str:
    """Run the issue procedure to a permit (filed at `at`, police agree, the officer issues);
    returns its number. Six months from 01.04.2026 by default: valid to 30.09.2026."""
    import time_machine
    from handlers import cases
    at = at or almaty(2026, 6, 10, 10, 0)
    body = application(period={"months": months, "start_date": start_date},
                       tax_payment__amount_kzt=4 * 4325 * months, **changes)
    with time_machine.travel(at, tick=False):
        case_id = file_application(body, filed_at=at).id
        sweep(app)  # the simulated police agree on the next sweep
        decide(case_id, ISSUE)
    db.session.remove()
    case = cases.get(case_id)
    assert case.outcome_code == "issued", case.outcome
    return case.permit_no


def validity_watch(permit_no):
    """The permit's validity instance (the `permit_validity` procedure)."""
    from engine import instances
    return db.session.execute(sa.select(instances.ProcessInstance).filter_by(
        process_id="permit_validity", business_key=permit_no)).scalar_one_or_none()


def permit(permit_no):
    from handlers import permits
    db.session.remove()
    return permits.get_permit(permit_no)


def extension_application(permit_no, /, **changes) -> dict:
    """A complete, valid request filed 10.09.2026 to extend `permit_no` (six months from
    01.04.2026, valid to 30.09.2026) by six months, signed by the applicant and the employer;
    tax for the six additional months paid in full."""
    body = application(kind="extension", application_no="EGOV-2026-EXT-0001",
                       period={"months": 6, "start_date": "2026-10-01"},
                       tax_payment={"receipt_no": "KGD-777", "amount_kzt": SIX_MONTHS_TAX_2026,
                                    "paid_at": "2026-09-08T12:00:00+05:00", "payer_iin": APPLICANT_IIN},
                       documents=[
                           {"type": "tax_receipt", "number": "KGD-777", "issued_at": "2026-09-08", "valid_until": None},
                           {"type": "previous_permit", "number": permit_no, "issued_at": "2026-06-10",
                            "valid_until": "2026-09-30"},
                           {"type": "employment_contract", "number": "EC-1", "issued_at": "2026-03-25",
                            "valid_until": None},
                           {"type": "medical_insurance", "number": "INS-2", "issued_at": "2026-09-01",
                            "valid_until": "2027-04-01"},
                       ])
    body["permit_no"] = permit_no
    body["signatures"] = {"applicant": "2026-09-10T09:00:00+05:00", "employer": "2026-09-10T09:30:00+05:00"}
    return _changed(body, changes)


def file_extension(body, filed_at=None, client="egov-portal", worker=True):
    """What POST /applications does for an extension, without HTTP (and, unless `worker` is
    False, what a worker does at once)."""
    from engine import clock
    from handlers import cases
    return _worked(worker, cases.open_case(
        "extension", "permit_extension",
        {"region": body["region"], "kind": "extension", "application": body,
         "filed_at": (filed_at or clock.now()).isoformat()},
        region=body["region"], created_by=client, application_no=body["application_no"],
        channel=body["channel"], applicant_iin=body["applicant"]["iin"],
        applicant_name=f"{body['applicant']['last_name']} {body['applicant']['first_name']}",
        permit_no=body["permit_no"]))


def register_contract(number="EC-1", starts_on="2026-03-25", ends_on=None,
                      employer_iin=EMPLOYER_IIN, worker_iin=APPLICANT_IIN):
    """The employment contract in the ЕСУТД simulator."""
    from handlers import reference
    reference.add_contract(number, employer_iin=employer_iin, worker_iin=worker_iin, starts_on=starts_on,
                           ends_on=ends_on, actor="test")
    db.session.commit()


def file_revocation(permit_no, ground="false_documents", details="The medical certificate was forged.",
                    initiator=("police", "MVD-AST-17"), created_by="is-mp"):
    """Open a revocation case as the API and the ЕСУТД message do (without the API's checks)."""
    from engine import clock
    from handlers import cases, permits
    found = permits.get_permit(permit_no)
    data = {"region": found.region, "kind": "revocation", "permit_no": permit_no,
            "revocation": {"ground": ground, "details": details,
                           "initiator": {"type": initiator[0], "id": initiator[1]}},
            "filed_at": clock.now().isoformat()}
    return cases.open_case("revocation", "permit_revocation", data, region=found.region, created_by=created_by,
                           permit_no=permit_no, applicant_iin=found.holder_iin, applicant_name=found.holder_name)


def _changed(body: dict, changes: dict) -> dict:
    """A copy of `body` with `changes` applied; a key `a__b` sets body["a"]["b"] (the scenarios' rule)."""
    return with_changes(body, changes)
