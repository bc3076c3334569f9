"""Permits issued before this system: `flask permits import FILE` and `flask permits backfill-watches`.

Imported permits are in the register like any other: they use the quota, waive the fingerprint
certificate of a holder with a permit issued the year before, can be extended, and expire
through their validity watch.
"""
import csv
import json

import pytest
import sqlalchemy as sa
import time_machine

from engine import audit, instances
from engine.db import db
from handlers import cases, permit_import, permits, quota
from tests.permit_support import (APPLICANT_IIN, EMPLOYER_IIN, ISSUE, almaty, application, case_data, decide,
                                  deploy_procedures, extension_application, file_application, file_extension,
                                  load_reference, make_iin, permit, register_contract, sweep, validity_watch)

OTHER_HOLDER = make_iin("880420", 3, "0031")
TODAY = almaty(2026, 3, 10, 10, 0)
FILED = almaty(2026, 3, 19, 10, 0)  # the application's documents are all valid by then


def record(**changes) -> dict:
    """An active permit issued here before the system: six months from 01.03.2026 in Astana."""
    base = {"number": "AST-2026-000007", "region": "AST", "holder_iin": APPLICANT_IIN,
            "holder_surname": "Karimov", "holder_given_name": "Rustam", "holder_patronymic": "",
            "holder_citizenship": "UZ", "employer_iin": EMPLOYER_IIN, "employer_name": "Saule Nurlanova",
            "valid_from": "2026-03-01", "valid_to": "2026-08-31", "months": 6, "issued_on": "2026-02-20"}
    return {**base, **changes}


EXPIRED = record(number="AST-2025-000031", valid_from="2025-05-01", valid_to="2025-10-31",
                 issued_on="2025-04-20")


@pytest.fixture
def service(app):
    load_reference(app)
    deploy_procedures(app)
    return app


def write_json(tmp_path, records, name="permits.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records), encoding="utf-8")
    return str(path)


def write_csv(tmp_path, records, name="permits.csv"):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(permit_import.FIELDS))
        writer.writeheader()
        for row in records:
            writer.writerow(row)
    return str(path)


def run(app, *args, at=TODAY):
    with time_machine.travel(at, tick=False):
        result = app.test_cli_runner().invoke(args=["permits", *args])
    db.session.remove()
    return result


def count(model) -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_an_import_is_only_checked_until_it_is_applied_then_written_with_its_quota_units_and_watches(
        service, tmp_path):
    path = write_json(tmp_path, [record(), EXPIRED])
    checked = run(service, "import", path)
    assert checked.exit_code == 0, checked.output
    assert "2 record(s): 2 new" in checked.output and "Checked only, nothing changed" in checked.output
    assert count(permits.Permit) == 0 and count(quota.QuotaUnit) == 0

    applied = run(service, "import", path, "--apply", "--actor", "migration-team")
    assert applied.exit_code == 0, applied.output
    assert "Imported 2 permit(s)" in applied.output and "1 validity watch(es) started" in applied.output
    active, expired = permit("AST-2026-000007"), permit("AST-2025-000031")
    assert (active.status, active.valid_to.isoformat(), active.issued_on.isoformat()) == \
        ("active", "2026-08-31", "2026-02-20")
    assert expired.status == "expired" and expired.ended_at is not None
    assert [e.event for e in active.events] == ["imported"] and active.events[0].actor == "migration-team"
    usage = quota.usage("AST", 2026)
    assert (usage["taken"], usage["used"]) == (1, 1), "the valid permit takes a unit of its year"
    assert db.session.execute(sa.select(sa.func.count()).select_from(quota.QuotaUnit).filter_by(
        year=2025)).scalar_one() == 0, "an expired permit uses no unit"
    assert validity_watch("AST-2026-000007").status == instances.IN_PROGRESS
    assert validity_watch("AST-2025-000031") is None
    [event] = [e for e in db.session.execute(sa.select(audit.AuditEvent)).scalars() if e.event == "permits_imported"]
    assert event.actor == "migration-team" and event.details["new"] == 2 and event.details["source"] == "permits.json"
    assert len(event.details["sha256"]) == 64


def test_importing_the_same_file_again_changes_nothing(service, tmp_path):
    path = write_csv(tmp_path, [record(), EXPIRED])
    assert run(service, "import", path, "--apply").exit_code == 0
    before = (count(permits.Permit), count(permits.PermitEvent), count(quota.QuotaUnit),
              count(instances.ProcessInstance))
    again = run(service, "import", path, "--apply")
    assert again.exit_code == 0, again.output
    assert "0 new, 2 already in the register, 0 refused" in again.output
    assert "0 validity watch(es) started" in again.output
    assert (count(permits.Permit), count(permits.PermitEvent), count(quota.QuotaUnit),
            count(instances.ProcessInstance)) == before


def test_refused_records_are_named_by_row_and_reason_and_nothing_is_imported(service, tmp_path):
    issued_here = record(number="AST-2026-000001", holder_iin=OTHER_HOLDER)
    assert run(service, "import", write_json(tmp_path, [issued_here], "first.json"), "--apply").exit_code == 0
    rows = [
        record(),                                                         # 1: fine
        record(holder_iin=OTHER_HOLDER, valid_from="2026-04-01", valid_to="2026-09-30"),  # 2: same number
        record(number="AST-2026-000008", holder_iin=APPLICANT_IIN[:11] + str((int(APPLICANT_IIN[11]) + 1) % 10)),  # 3
        record(number="AST-2026-000009", holder_iin=make_iin("910101", 3, "0044"),
               valid_to="2026-09-01"),                                    # 4: months disagree with the dates
        record(number="AST-2026-000001", holder_iin=OTHER_HOLDER, employer_name="Someone",
               valid_to="2026-05-31", months=3),                          # 5: in the register, other dates
        record(number="AST-2026-000010", holder_iin=OTHER_HOLDER, valid_from="2026-05-01",
               valid_to="2026-10-31"),                                    # 6: holder already holds one then
        record(number="SHY-2026-000011", holder_iin=make_iin("920202", 4, "0055")),  # 7: region disagrees
        {**record(number="AST-2026-000012"), "months": "six", "colour": "red"},  # 8: malformed
    ]
    path = write_json(tmp_path, rows)
    before = (count(permits.Permit), count(quota.QuotaUnit), count(instances.ProcessInstance))
    result = run(service, "import", path, "--apply")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    refused = {line.split(" ", 2)[1]: line for line in lines if line.startswith("row ")}
    assert set(refused) == {"2", "3", "4", "5", "6", "7", "8"}
    assert "repeats the number of row 1" in refused["2"]
    assert "holder_iin" in refused["3"] and "check digit" in refused["3"]
    assert "is not 6 month(s) from 01.03.2026: that period ends 31.08.2026" in refused["4"]
    assert "already in the register with other data" in refused["5"] and "valid_to" in refused["5"]
    assert "already holds permit AST-2026-000001" in refused["6"]
    assert "names SHY 2026, but the permit is of AST" in refused["7"]
    assert "unknown field(s) colour" in refused["8"] and "months 'six'" in refused["8"]
    assert APPLICANT_IIN not in result.output and OTHER_HOLDER not in result.output, "IINs only masked"
    assert "nothing imported" in result.output
    assert (count(permits.Permit), count(quota.QuotaUnit), count(instances.ProcessInstance)) == before


def test_a_file_that_is_not_a_list_of_permits_is_refused_whole(service, tmp_path):
    path = tmp_path / "permits.json"
    path.write_text('{"number": "AST-2026-000007"}', encoding="utf-8")
    result = run(service, "import", str(path))
    assert result.exit_code == 1 and "a list of objects" in result.output
    bad_header = tmp_path / "permits.csv"
    bad_header.write_text("number,region\nAST-2026-000007,AST\n", encoding="utf-8")
    result = run(service, "import", str(bad_header))
    assert result.exit_code == 1 and "the CSV header lacks holder_iin" in result.output


def test_imported_active_permits_count_against_the_quota(app, tmp_path):
    load_reference(app, quota=1)
    deploy_procedures(app)
    assert run(app, "import", write_json(tmp_path, [record(holder_iin=OTHER_HOLDER)]), "--apply").exit_code == 0
    with time_machine.travel(FILED, tick=False):
        case_id = file_application(application(), filed_at=FILED).id
    db.session.remove()
    outcome = cases.get(case_id).outcome
    assert outcome["code"] == "refused"
    assert [g["code"] for g in outcome["grounds"]] == ["quota_exhausted"]


def test_a_permit_imported_from_last_year_waives_the_fingerprint_certificate(service, tmp_path):
    assert run(service, "import", write_json(tmp_path, [EXPIRED]), "--apply").exit_code == 0
    body = application()
    body["documents"] = [d for d in body["documents"] if d["type"] != "fingerprint_certificate"]
    with time_machine.travel(FILED, tick=False):
        case_id = file_application(body, filed_at=FILED).id
    db.session.remove()
    assert case_data(case_id)["documents_check"]["held_permit_last_year"] is True
    assert cases.get(case_id).outcome_code != "not_accepted"


def test_an_imported_permit_is_extended_and_later_expires_through_its_watch(service, tmp_path):
    imported = record(number="AST-2026-000040", valid_from="2026-04-01", valid_to="2026-09-30",
                      issued_on="2026-03-05")
    assert run(service, "import", write_json(tmp_path, [imported]), "--apply").exit_code == 0
    register_contract()
    filed = almaty(2026, 9, 10, 10, 0)
    with time_machine.travel(filed, tick=False):
        case_id = file_extension(extension_application("AST-2026-000040"), filed_at=filed).id
        sweep(service)  # the simulated police agree
        decide(case_id, ISSUE)
    db.session.remove()
    assert cases.get(case_id).outcome_code == "extended"
    assert permit("AST-2026-000040").valid_to.isoformat() == "2027-03-31"
    with time_machine.travel(almaty(2026, 10, 1, 0, 0, 5), tick=False):
        sweep(service)
    assert permit("AST-2026-000040").status == "active"
    with time_machine.travel(almaty(2027, 4, 1, 0, 0, 5), tick=False):
        sweep(service)
    assert permit("AST-2026-000040").status == "expired"
    assert quota.usage("AST", 2026)["used"] == 0, "expiry freed the imported permit's unit"


def test_backfill_starts_a_watch_for_each_active_permit_without_one(service, tmp_path):
    records = permit_import.read(json.dumps([record(), EXPIRED]), "json")
    with time_machine.travel(TODAY, tick=False):
        permit_import.plan(records, db.session, service.config, almaty(2026, 3, 10, 10, 0))
        permit_import.apply(records, db.session, service.config, almaty(2026, 3, 10, 10, 0), actor="test",
                            source="older.json", digest="0" * 64)
    db.session.commit()
    assert validity_watch("AST-2026-000007") is None, "written without a watch, as before the procedure"
    listed = run(service, "backfill-watches", "--dry-run")
    assert "AST-2026-000007\tvalid to 31.08.2026\tno watch" in listed.output
    assert "1 active permit(s) without a validity watch" in listed.output
    assert validity_watch("AST-2026-000007") is None
    started = run(service, "backfill-watches")
    assert started.exit_code == 0 and "1 validity watch(es) started" in started.output
    watch = validity_watch("AST-2026-000007")
    assert watch.status == instances.IN_PROGRESS
    assert case_data(watch.id)["deadlines"]["validity"]["due_at"] == "2026-09-01T00:00:00+05:00"
    assert "0 validity watch(es) started" in run(service, "backfill-watches").output
    with time_machine.travel(almaty(2026, 9, 1, 0, 0, 5), tick=False):
        sweep(service)
    assert permit("AST-2026-000007").status == "expired"
