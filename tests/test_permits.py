"""The permit register: numbers, validity, extension, revocation, expiry and their history."""
import threading

import pytest
import sqlalchemy as sa
import time_machine

from engine.db import db
from handlers import permits, quota
from handlers.permits import PermitNotActive
from handlers.quota import QuotaNotHeld
from tests.test_operators_domain import (
    APPLICANT, APPLICANT_IIN, EMPLOYER, EMPLOYER_IIN, load_reference, step_context,
)

OTHER_IIN = "900101300007"


def issue(app, case, region="ALA", valid_from="2026-04-01", months=6, holder=APPLICANT):
    ctx = step_context(app, case)
    quota.hold(ctx, region=region, valid_from=valid_from)
    permit = permits.register(ctx, region=region, holder=holder, employer=EMPLOYER,
                              valid_from=valid_from, months=months)
    db.session.commit()
    return permit


@pytest.fixture
def register(app):
    load_reference(app, {"ALA": {"2026": 50, "2027": 50}, "AST": {"2026": 50}})
    return app


def test_numbers_are_region_year_sequence_counted_per_region_and_year(register):
    app = register
    assert issue(app, "c1")["number"] == "ALA-2026-000001"
    assert issue(app, "c2")["number"] == "ALA-2026-000002"
    assert issue(app, "c3", region="AST")["number"] == "AST-2026-000001"
    assert issue(app, "c4", valid_from="2027-01-05")["number"] == "ALA-2027-000001"


def test_the_number_year_is_the_quota_year_of_valid_from_not_the_day_of_issue(register):
    with time_machine.travel("2026-12-28T10:00:00+05:00"):
        permit = issue(register, "c1", valid_from="2027-01-05")
    assert permit["number"].startswith("ALA-2027-") and permit["issued_on"] == "2026-12-28"


def test_the_sequence_width_is_configuration(register):
    register.config["PERMIT_NUMBER_SEQUENCE_DIGITS"] = 4
    assert issue(register, "c1")["number"] == "ALA-2026-0001"


def test_a_permit_for_twelve_months_from_1_april_runs_to_31_march(register):
    permit = issue(register, "c1", valid_from="2026-04-01", months=12)
    assert (permit["valid_from"], permit["valid_to"], permit["months"]) == ("2026-04-01", "2027-03-31", 12)
    assert permit["status"] == "active"
    assert permit["holder"] == {"iin": APPLICANT_IIN, "surname": "Karimov", "given_name": "Aziz",
                                "patronymic": "Bakhtiyorovich", "name": "Karimov Aziz Bakhtiyorovich",
                                "citizenship": "UZ"}
    assert permit["employer"] == {"iin": EMPLOYER_IIN, "name": "Nurlanova Aigerim"}


def test_registering_again_from_the_same_case_returns_the_same_permit(register):
    first = issue(register, "c1")
    again = permits.register(step_context(register, "c1"), region="ALA", holder=APPLICANT,
                             employer=EMPLOYER, valid_from="2026-04-01", months=6)
    assert again["number"] == first["number"]
    assert db.session.execute(sa.select(sa.func.count()).select_from(permits.Permit)).scalar_one() == 1


def test_no_permit_without_a_held_quota_unit(register):
    with pytest.raises(QuotaNotHeld):
        permits.register(step_context(register, "c1"), region="ALA", holder=APPLICANT,
                         employer=EMPLOYER, valid_from="2026-04-01", months=6)


@pytest.mark.parametrize("months", [0, 13, "6", True])
def test_a_permit_lasts_one_to_twelve_whole_months(register, months):
    ctx = step_context(register, "c1")
    quota.hold(ctx, region="ALA", valid_from="2026-04-01")
    with pytest.raises(ValueError, match="whole months"):
        permits.register(ctx, region="ALA", holder=APPLICANT, employer=EMPLOYER,
                         valid_from="2026-04-01", months=months)


def test_concurrent_issues_never_share_a_number(register):
    app = register
    numbers, errors = [], []
    start = threading.Barrier(10)

    def one_case(i):
        with app.app_context():
            try:
                start.wait()
                numbers.append(issue(app, f"case-{i}")["number"])
            except Exception as err:  # pragma: no cover - reported below
                errors.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one_case, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(numbers) == [f"ALA-2026-{n:06d}" for n in range(1, 11)]


def test_look_up_by_number_and_by_holder(register):
    first = issue(register, "c1", valid_from="2026-02-01", months=2)["number"]
    second = issue(register, "c2", valid_from="2026-06-01", months=3)["number"]
    issue(register, "c3", holder={**APPLICANT, "iin": OTHER_IIN})
    assert permits.get_permit(first).holder_iin == APPLICANT_IIN
    assert permits.get_permit("ALA-2026-999999") is None
    assert [p.number for p in permits.permits_by_holder(APPLICANT_IIN)] == [second, first]
    assert permits.permits_by_holder("850701600006") == []
    looked_up = permits.lookup(step_context(register, "c9"), permit_no=first)
    assert looked_up["found"] is True and looked_up["number"] == first
    assert permits.lookup(step_context(register, "c9"), permit_no="X")["found"] is False


def test_extension_moves_valid_to_and_records_the_case_in_the_history(register):
    number = issue(register, "issue-case", valid_from="2026-04-01", months=6)["number"]
    extended = permits.extend(step_context(register, "extension-case"), permit_no=number,
                              additional_months=3)
    db.session.commit()
    assert extended["valid_to"] == "2026-12-31" and extended["months"] == 9
    assert [(e["event"], e["instance_id"]) for e in extended["history"]] == [
        ("issued", "issue-case"), ("extended", "extension-case")]
    assert extended["history"][1]["details"] == {"valid_to_before": "2026-09-30",
                                                 "valid_to_after": "2026-12-31",
                                                 "additional_months": 3, "total_months": 9}
    assert quota.usage("ALA", 2026)["taken"] == 1  # the permit keeps its one unit


def test_extension_check_passes_for_the_holder_and_employer_within_the_cap(register):
    number = issue(register, "c1", months=6)["number"]
    with time_machine.travel("2026-08-01T10:00:00+05:00"):
        result = permits.check_extension(step_context(register, "ext"), permit_no=number,
                                         holder_iin=APPLICANT_IIN, employer_iin=EMPLOYER_IIN,
                                         additional_months=6)
    assert result["ok"] is True and result["new_valid_to"] == "2027-03-31"
    assert result["period_from"] == "2026-10-01" and result["total_months"] == 12


def test_extension_past_twelve_months_in_total_is_stay_limit_exceeded(register):
    number = issue(register, "c1", months=10)["number"]
    with time_machine.travel("2026-08-01T10:00:00+05:00"):
        result = permits.check_extension(step_context(register, "ext"), permit_no=number,
                                         holder_iin=APPLICANT_IIN, employer_iin=EMPLOYER_IIN,
                                         additional_months=3)
    assert [g["code"] for g in result["grounds"]] == ["stay_limit_exceeded"]
    with pytest.raises(PermitNotActive):
        permits.extend(step_context(register, "ext"), permit_no=number, additional_months=3)


def test_extension_of_another_persons_or_employers_permit_is_permit_not_active(register):
    number = issue(register, "c1")["number"]
    with time_machine.travel("2026-05-01T10:00:00+05:00"):
        result = permits.check_extension(step_context(register, "ext"), permit_no=number,
                                         holder_iin=OTHER_IIN, employer_iin=OTHER_IIN,
                                         additional_months=1)
    [ground] = result["grounds"]
    assert ground["code"] == "permit_not_active"
    assert "another person" in ground["evidence"] and "another employer" in ground["evidence"]
    assert OTHER_IIN not in ground["evidence"]


def test_extension_of_a_missing_or_revoked_permit_is_permit_not_active(register):
    missing = permits.check_extension(step_context(register, "ext"), permit_no="ALA-2026-000404",
                                      holder_iin=APPLICANT_IIN, employer_iin=EMPLOYER_IIN,
                                      additional_months=1)
    assert missing["ok"] is False and missing["permit"] is None
    assert "No permit ALA-2026-000404" in missing["grounds"][0]["evidence"]
    number = issue(register, "c1")["number"]
    permits.revoke(step_context(register, "rev"), permit_no=number, ground="false_documents",
                   initiator_type="officer", initiator_id="officer-7", confirmed_by="officer-9")
    revoked = permits.check_extension(step_context(register, "ext"), permit_no=number,
                                      holder_iin=APPLICANT_IIN, employer_iin=EMPLOYER_IIN,
                                      additional_months=1)
    assert revoked["grounds"][0]["code"] == "permit_not_active"
    with pytest.raises(PermitNotActive, match="revoked"):
        permits.extend(step_context(register, "ext"), permit_no=number, additional_months=1)


def test_revocation_records_ground_initiator_and_confirmer(register):
    number = issue(register, "issue-case")["number"]
    result = permits.revoke(step_context(register, "revocation-case"), permit_no=number,
                            ground="contract_terminated", initiator_type="esutd",
                            initiator_id="contract C-1", confirmed_by="officer-9")
    db.session.commit()
    assert result["revoked"] is True and result["status"] == "revoked"
    assert result["revocation"] == {"ground": "contract_terminated", "comment": None}
    event = result["history"][-1]
    assert event["event"] == "revoked" and event["instance_id"] == "revocation-case"
    assert event["details"]["initiator"] == {"type": "esutd", "id": "contract C-1"}
    assert event["details"]["confirmed_by"] == "officer-9" and event["details"]["quota_unit_released"]
    again = permits.revoke(step_context(register, "second"), permit_no=number, ground="other",
                           initiator_type="officer", initiator_id="o", comment="duplicate")
    assert again["revoked"] is False and len(again["history"]) == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"ground": "bad_mood"}, "unknown revocation ground"),
    ({"initiator_type": "neighbour"}, "initiator_type"),
    ({"ground": "other", "comment": " "}, "needs the officer's text"),
])
def test_a_revocation_needs_a_known_ground_and_initiator(register, kwargs, message):
    number = issue(register, "c1")["number"]
    args = {"ground": "court_decision", "initiator_type": "officer", "initiator_id": "o-1", **kwargs}
    with pytest.raises(ValueError, match=message):
        permits.revoke(step_context(register, "rev"), permit_no=number, **args)
    assert permits.get_permit(number).status == "active"


def test_a_permit_expires_only_after_the_end_of_its_valid_to_day_in_almaty(register):
    number = issue(register, "issue-case", valid_from="2026-04-01", months=1)["number"]
    with time_machine.travel("2026-04-30T23:59:00+05:00"):
        early = permits.expire(step_context(register, "validity-case"), permit_no=number)
    assert early["expired"] is False and early["status"] == "active"
    assert early["ends_at"] == "2026-05-01T00:00:00+05:00"
    with time_machine.travel("2026-04-30T19:00:00+00:00"):  # 00:00 on 1 May in Almaty
        result = permits.expire(step_context(register, "validity-case"), permit_no=number)
        db.session.commit()
    assert result["expired"] is True and result["status"] == "expired"
    assert [(e["event"], e["instance_id"]) for e in result["history"]] == [
        ("issued", "issue-case"), ("expired", "validity-case")]


def test_an_extended_permit_does_not_expire_at_its_old_end(register):
    number = issue(register, "c1", valid_from="2026-04-01", months=1)["number"]
    permits.extend(step_context(register, "ext"), permit_no=number, additional_months=2)
    db.session.commit()
    with time_machine.travel("2026-05-02T10:00:00+05:00"):
        result = permits.expire(step_context(register, "validity-case"), permit_no=number)
    assert result["expired"] is False and result["valid_to"] == "2026-06-30"


def test_a_revoked_permit_does_not_expire_later(register):
    number = issue(register, "c1", valid_from="2026-04-01", months=1)["number"]
    permits.revoke(step_context(register, "rev"), permit_no=number, ground="death_or_departure",
                   initiator_type="officer", initiator_id="o-1")
    with time_machine.travel("2026-06-01T10:00:00+05:00"):
        result = permits.expire(step_context(register, "validity-case"), permit_no=number)
    assert result["expired"] is False and result["status"] == "revoked"


def test_a_permit_issued_last_year_is_known_for_the_fingerprint_waiver(register):
    with time_machine.travel("2026-03-01T10:00:00+05:00"):
        issue(register, "c1")
    assert permits.held_permit_issued_in(APPLICANT_IIN, 2026) is True
    assert permits.held_permit_issued_in(APPLICANT_IIN, 2025) is False
    assert permits.held_permit_issued_in(OTHER_IIN, 2026) is False
