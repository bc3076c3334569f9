"""The extension procedure (processes/permit_extension.bpmn), path by path, with time travel.

Every scenario starts from a permit issued by the issue procedure: six months from 01.04.2026,
valid to 30.09.2026; the request to extend it by six months is filed on Thursday 10.09.2026.
"""
import pytest
import sqlalchemy as sa
import time_machine

from engine import messages
from engine.db import db
from handlers import cases
from handlers.notifications import Notification
from handlers.police import PoliceRequest
from handlers.quota import QuotaUnit
from tests.permit_support import (APPLICANT_IIN, EMPLOYER_IIN, ISSUE, almaty, case_data,
                                  decide, deploy_procedures, extension_application, file_extension, issue_permit,
                                  load_reference, open_task, permit, register_contract, run_worker, sweep,
                                  validity_watch)

FILED = almaty(2026, 9, 10, 10, 0)  # Thursday


@pytest.fixture
def service(app):
    load_reference(app)
    deploy_procedures(app)
    return app


@pytest.fixture
def permit_no(service):
    number = issue_permit(service)
    register_contract()
    return number


def outcome(case_id):
    db.session.remove()
    return cases.get(case_id).outcome


def grounds(case_id):
    return sorted(g["code"] for g in outcome(case_id)["grounds"])


def sent(template):
    return list(db.session.execute(sa.select(Notification).filter_by(template=template)).scalars())


def units(status):
    return db.session.execute(sa.select(sa.func.count()).select_from(QuotaUnit)
                              .filter_by(status=status)).scalar_one()


def police_asked(case_id):
    return db.session.execute(sa.select(sa.func.count()).select_from(PoliceRequest)
                              .filter_by(instance_id=case_id)).scalar_one() > 0


def file_and_police_answer(app, body, at=FILED):
    with time_machine.travel(at, tick=False):
        case_id = file_extension(body, filed_at=at).id
        sweep(app)  # the simulated police answer on the next sweep
    return case_id


def consent(case_id, decision="consent", at=None):
    signed = (at or almaty(2026, 9, 14, 11, 0)).isoformat()
    with time_machine.travel(at or almaty(2026, 9, 14, 11, 0), tick=False):
        delivery = messages.deliver("employer_consent", case_id, {"decision": decision, "signed_at": signed},
                                    message_id=f"consent-{case_id}", actor="egov-portal")
        run_worker()  # the checks the consent lets run ask ЕСУТД through a worker, at once
    db.session.remove()
    return delivery


def test_a_signed_request_extends_the_same_permit_which_keeps_its_quota_unit(service, permit_no):
    case_id = file_and_police_answer(service, extension_application(permit_no))
    task = open_task(case_id)
    assert task is not None, "every check passed and the police agreed: the officer decides"
    assert task.due_at == almaty(2026, 9, 14, 23, 59, 59), "two working days after the filing day"
    with time_machine.travel(almaty(2026, 9, 11, 15, 0), tick=False):
        decide(case_id, ISSUE)
    result = outcome(case_id)
    assert result["code"] == "extended" and result["decided_by"] == "aigul.officer"
    assert cases.get(case_id).permit_no == permit_no
    extended = permit(permit_no)
    assert (extended.status, extended.valid_from.isoformat(), extended.valid_to.isoformat()) == \
        ("active", "2026-04-01", "2027-03-31")
    assert [e.event for e in extended.events] == ["issued", "extended"]
    assert units("taken") == 1 and units("held") == 0, "the permit keeps the unit it holds"
    [notice, *_] = sent("extended")
    assert {n.recipient for n in sent("extended")} == {APPLICANT_IIN, EMPLOYER_IIN}
    assert "31.03.2027" in notice.body
    assert case_data(case_id)["deadlines"]["decision"]["met"] is True


def test_an_extension_moves_the_expiry(service, permit_no):
    case_id = file_and_police_answer(service, extension_application(permit_no))
    with time_machine.travel(almaty(2026, 9, 11, 15, 0), tick=False):
        decide(case_id, ISSUE)
    watch = validity_watch(permit_no)
    assert case_data(watch.id)["deadlines"]["validity"]["due_at"] == "2027-04-01T00:00:00+05:00"
    with time_machine.travel(almaty(2026, 10, 1, 0, 0, 5), tick=False):
        sweep(service)
    assert permit(permit_no).status == "active", "the old end of validity no longer counts"
    assert sent("expired") == []
    with time_machine.travel(almaty(2027, 4, 1, 0, 0, 5), tick=False):
        sweep(service)
    assert permit(permit_no).status == "expired"
    assert units("taken") == 0 and units("released") == 1
    assert len(sent("expired")) == 2


@pytest.mark.parametrize("change, expected", [
    ({"permit_no": "AST-2026-999999"}, ["permit_not_active"]),
    ({"tax_payment__amount_kzt": 50_000}, ["tax_underpaid"]),
    ({"period__months": 7, "tax_payment__amount_kzt": 4 * 4325 * 7}, ["stay_limit_exceeded"]),
])
def test_each_automatic_refusal_alone(service, permit_no, change, expected):
    with time_machine.travel(FILED, tick=False):
        case = file_extension(extension_application(permit_no, **change), filed_at=FILED)
        run_worker()  # ЕСУТД is asked by a worker, at once
    assert outcome(case.id)["code"] == "refused"
    assert grounds(case.id) == expected
    assert all(g["legal_basis"] and g["evidence"] for g in outcome(case.id)["grounds"])
    assert open_task(case.id) is None and not police_asked(case.id), "the police are asked only after every check"
    assert len(sent("refused")) == 1
    assert permit(permit_no).valid_to.isoformat() == "2026-09-30"


def test_a_contract_not_registered_in_esutd_refuses(service):
    permit_no = issue_permit(service)  # no contract registered
    with time_machine.travel(FILED, tick=False):
        case = file_extension(extension_application(permit_no), filed_at=FILED)
        run_worker()  # ЕСУТД is asked by a worker, at once
    assert grounds(case.id) == ["contract_not_registered"]
    assert "ЕСУТД" in outcome(case.id)["grounds"][0]["evidence"]


def test_a_contract_ending_before_the_new_end_of_validity_does_not_cover_the_extension(service):
    permit_no = issue_permit(service)
    register_contract(ends_on="2026-12-31")
    with time_machine.travel(FILED, tick=False):
        case = file_extension(extension_application(permit_no), filed_at=FILED)
        run_worker()  # ЕСУТД is asked by a worker, at once
    assert grounds(case.id) == ["contract_not_registered"]
    assert "01.10.2026–31.03.2027" in outcome(case.id)["grounds"][0]["evidence"]


def test_a_permit_of_another_employer_is_not_extended(service):
    from tests.permit_support import make_iin
    other_employer = make_iin("800101", 4, "0009")
    permit_no = issue_permit(service)
    register_contract(number="EC-2", employer_iin=other_employer)
    body = extension_application(permit_no, employer__iin=other_employer)
    with time_machine.travel(FILED, tick=False):
        case = file_extension(body, filed_at=FILED)
        run_worker()  # ЕСУТД is asked by a worker, at once
    assert grounds(case.id) == ["permit_not_active"]
    assert "another employer" in outcome(case.id)["grounds"][0]["evidence"]


def test_several_failed_checks_give_one_refusal_with_every_ground(service):
    permit_no = issue_permit(service)  # no contract registered
    body = extension_application(permit_no, period__months=7, tax_payment__amount_kzt=1000)
    with time_machine.travel(FILED, tick=False):
        case = file_extension(body, filed_at=FILED)
        run_worker()  # ЕСУТД is asked by a worker, at once
    assert grounds(case.id) == ["contract_not_registered", "stay_limit_exceeded", "tax_underpaid"]


def test_a_request_without_the_employment_contract_is_not_accepted(service, permit_no):
    body = extension_application(permit_no)
    body["documents"] = [d for d in body["documents"] if d["type"] != "employment_contract"]
    with time_machine.travel(FILED, tick=False):
        case = file_extension(body, filed_at=FILED)
        run_worker()  # ЕСУТД is asked by a worker, at once
    result = outcome(case.id)
    assert result["code"] == "not_accepted" and grounds(case.id) == ["not_accepted_incomplete"]
    assert "employment contract" in result["grounds"][0]["evidence"]
    assert len(sent("not_accepted")) == 1


def test_police_objection_refuses_the_extension(service, permit_no):
    load_reference(service, watch=[{"iin": APPLICANT_IIN, "reason": "administrative expulsion ordered"}])
    case_id = file_and_police_answer(service, extension_application(permit_no))
    assert grounds(case_id) == ["police_objection"]
    assert "expulsion" in outcome(case_id)["grounds"][0]["evidence"]


def test_police_silence_for_one_working_day_refuses_the_extension(service, permit_no):
    load_reference(service, silent=[{"iin": APPLICANT_IIN}])
    case_id = file_and_police_answer(service, extension_application(permit_no))
    with time_machine.travel(almaty(2026, 9, 12, 0, 0, 5), tick=False):  # after Friday 11.09
        sweep(service)
    assert grounds(case_id) == ["police_no_answer"]


def test_the_officer_refusing_gives_the_officer_grounds(service, permit_no):
    case_id = file_and_police_answer(service, extension_application(permit_no))
    decide(case_id, {"data_matches": True, "decision": "refuse", "grounds": ["other"],
                     "comment": "The household moved to another region."})
    assert grounds(case_id) == ["other"] and outcome(case_id)["decided_by"] == "aigul.officer"
    assert permit(permit_no).valid_to.isoformat() == "2026-09-30"


def test_the_decision_term_counts_from_the_day_the_employer_consented(service, permit_no):
    body = extension_application(permit_no, signatures={"applicant": "2026-09-10T09:00:00+05:00", "employer": None})
    with time_machine.travel(FILED, tick=False):
        case_id = file_extension(body, filed_at=FILED).id
    assert open_task(case_id) is None and not police_asked(case_id), "nothing is checked before the consent"
    consent_term = case_data(case_id)["deadlines"]["employer_consent"]
    assert consent_term["due_at"] == "2026-09-15T23:59:59+05:00", "3 working days after the filing day"
    assert consent(case_id).status == "delivered"  # Monday 14.09
    with time_machine.travel(almaty(2026, 9, 14, 11, 0, 30), tick=False):
        sweep(service)
    task = open_task(case_id)
    assert task.due_at == almaty(2026, 9, 16, 23, 59, 59), "two working days after the day of consent"
    data = case_data(case_id)
    assert data["deadlines"]["employer_consent"]["met"] is True
    assert data["deadlines"]["decision"]["inputs"]["start_date"] == "2026-09-14"
    with time_machine.travel(almaty(2026, 9, 15, 10, 0), tick=False):
        decide(case_id, ISSUE)
    assert outcome(case_id)["code"] == "extended"


def test_without_the_employers_consent_in_three_working_days_the_request_lapses(service, permit_no):
    body = extension_application(permit_no, signatures={"applicant": "2026-09-10T09:00:00+05:00", "employer": None})
    with time_machine.travel(FILED, tick=False):
        case_id = file_extension(body, filed_at=FILED).id
    with time_machine.travel(almaty(2026, 9, 15, 23, 59, 0), tick=False):
        sweep(service)
    assert outcome(case_id) is None, "the third working day is still in time"
    with time_machine.travel(almaty(2026, 9, 16, 0, 0, 5), tick=False):
        sweep(service)
    result = outcome(case_id)
    assert result["code"] == "lapsed" and grounds(case_id) == ["employer_consent_missing"]
    assert case_data(case_id)["deadlines"]["employer_consent"]["met"] is False
    [notice] = sent("lapsed")
    assert notice.recipient == APPLICANT_IIN and "15.09.2026" in notice.body
    assert not police_asked(case_id) and permit(permit_no).valid_to.isoformat() == "2026-09-30"
    late = consent(case_id, at=almaty(2026, 9, 16, 10, 0))
    assert late.status == "not_waiting", "a consent after the lapse changes nothing"


def test_an_employer_who_declines_is_a_refusal_for_missing_consent(service, permit_no):
    body = extension_application(permit_no, signatures={"applicant": "2026-09-10T09:00:00+05:00", "employer": None})
    with time_machine.travel(FILED, tick=False):
        case_id = file_extension(body, filed_at=FILED).id
    consent(case_id, decision="decline")
    result = outcome(case_id)
    assert result["code"] == "refused" and result["decided_by"] == "system"
    assert grounds(case_id) == ["employer_consent_missing"]
    assert "declined" in result["grounds"][0]["evidence"]
    assert not police_asked(case_id) and len(sent("refused")) == 1


def test_an_employer_who_declines_refuses_with_every_failed_check_and_the_police_are_not_asked(service):
    permit_no = issue_permit(service)  # no contract registered in ЕСУТД
    body = extension_application(permit_no, tax_payment__amount_kzt=1000,
                                 signatures={"applicant": "2026-09-10T09:00:00+05:00", "employer": None})
    with time_machine.travel(FILED, tick=False):
        case_id = file_extension(body, filed_at=FILED).id
    assert consent(case_id, decision="decline").status == "delivered"
    result = outcome(case_id)
    assert result["code"] == "refused" and result["decided_by"] == "system"
    assert grounds(case_id) == ["contract_not_registered", "employer_consent_missing", "tax_underpaid"]
    assert all(g["evidence"] and g["legal_basis"] for g in result["grounds"])
    assert open_task(case_id) is None and not police_asked(case_id)
    [notice] = sent("refused")
    assert "The employer declined" in notice.body and "ЕСУТД" in notice.body, "one notice names every defect"
    assert case_data(case_id)["deadlines"]["employer_consent"]["met"] is True


def test_a_consent_arriving_after_its_term_lapses_the_request_whatever_the_sweeps_lag(service, permit_no):
    body = extension_application(permit_no, signatures={"applicant": "2026-09-10T09:00:00+05:00", "employer": None})
    with time_machine.travel(FILED, tick=False):
        case_id = file_extension(body, filed_at=FILED).id
    arrived = almaty(2026, 9, 16, 10, 0)  # due at the end of Tuesday 15.09; no sweep has run since
    assert consent(case_id, at=arrived).status == "delivered"
    result = outcome(case_id)
    assert result["code"] == "lapsed" and grounds(case_id) == ["employer_consent_missing"]
    record = case_data(case_id)["deadlines"]["employer_consent"]
    assert record["met"] is False
    assert record["closed_at"] == "2026-09-16T05:00:00+00:00", "counted by the time the answer arrived"
    assert open_task(case_id) is None and not police_asked(case_id)
    assert len(sent("lapsed")) == 1 and permit(permit_no).valid_to.isoformat() == "2026-09-30"


def test_a_consent_arriving_in_the_last_second_of_its_term_counts(service, permit_no):
    body = extension_application(permit_no, signatures={"applicant": "2026-09-10T09:00:00+05:00", "employer": None})
    with time_machine.travel(FILED, tick=False):
        case_id = file_extension(body, filed_at=FILED).id
    consent(case_id, at=almaty(2026, 9, 15, 23, 59, 59))
    assert outcome(case_id) is None
    assert case_data(case_id)["deadlines"]["employer_consent"]["met"] is True


def test_a_permit_revoked_while_the_officer_decides_is_not_extended(service, permit_no):
    from engine import tasks
    from tests.permit_support import file_revocation
    case_id = file_and_police_answer(service, extension_application(permit_no))
    with time_machine.travel(almaty(2026, 9, 11, 9, 0), tick=False):
        revocation_id = file_revocation(permit_no, ground="contract_terminated", details="Contract ended.").id
        review = open_task(revocation_id, "review")
        officer = tasks.Actor("berik.officer", frozenset({"officer"}), frozenset({"AST"}))
        tasks.claim(review.id, officer)
        tasks.complete(review.id, officer, {"decision": "confirm", "comment": "Confirmed by the employer."})
    with time_machine.travel(almaty(2026, 9, 11, 15, 0), tick=False):
        decide(case_id, ISSUE)
    assert outcome(case_id)["code"] == "refused" and grounds(case_id) == ["permit_not_active"]
    assert "revoked" in outcome(case_id)["grounds"][0]["evidence"]
    assert (permit(permit_no).status, permit(permit_no).valid_to.isoformat()) == ("revoked", "2026-09-30")
    assert sent("extended") == []


def test_the_officers_are_reminded_and_the_supervisors_told_when_the_decision_term_passes(service, permit_no):
    case_id = file_and_police_answer(service, extension_application(permit_no))
    with time_machine.travel(almaty(2026, 9, 14, 9, 0, 30), tick=False):
        sweep(service)
    assert [n.recipient for n in sent("reminder")] == ["role:officer:AST"]
    with time_machine.travel(almaty(2026, 9, 15, 0, 0, 30), tick=False):
        sweep(service)
    assert open_task(case_id).escalated is True
    assert [n.recipient for n in sent("escalation")] == ["role:supervisor:AST"]
    with time_machine.travel(almaty(2026, 9, 15, 10, 0), tick=False):
        decide(case_id, ISSUE)
    assert outcome(case_id)["code"] == "extended"
    assert case_data(case_id)["deadlines"]["decision"]["met"] is False
