"""The issue procedure (processes/permit_issue.bpmn), path by path, with time travel."""
import pytest
import sqlalchemy as sa
import time_machine

from engine import audit, instances, messages, tasks
from engine.db import db
from engine.exceptions import InvalidData
from handlers import cases
from handlers.notifications import Notification
from handlers.permits import Permit
from handlers.quota import QuotaUnit
from tests.permit_support import (APPLICANT_IIN, OFFICER, OTHER_REGION_OFFICER, almaty, application,
                                  case_data, decide, deploy_procedures, file_application,
                                  load_reference, open_task, sweep)

FILED = almaty(2026, 6, 10, 10, 0)          # Wednesday
ISSUE = {"data_matches": True, "decision": "issue"}


@pytest.fixture
def service(app):
    load_reference(app)
    deploy_procedures(app)
    return app


def outcome(case_id):
    db.session.remove()
    return cases.get(case_id).outcome


def grounds(case_id):
    return sorted(g["code"] for g in outcome(case_id)["grounds"])


def units(status):
    return db.session.execute(sa.select(sa.func.count()).select_from(QuotaUnit)
                              .filter_by(status=status)).scalar_one()


def sent(template):
    return list(db.session.execute(sa.select(Notification).filter_by(template=template)).scalars())


def file_and_police_answer(app, body=None, at=FILED):
    with time_machine.travel(at, tick=False):
        case_id = file_application(body, filed_at=at).id
        sweep(app)  # the simulated police answer (no delay) arrives on the next sweep
    return case_id


def test_happy_path_issues_the_permit_within_the_term(service):
    case_id = file_and_police_answer(service)
    task = open_task(case_id)
    assert task is not None, "the police agreed, so the officer decides"
    assert task.due_at == almaty(2026, 6, 12, 23, 59, 59)  # Thu and Fri are the two working days
    assert task.role == "officer" and task.region == "AST"
    with time_machine.travel(almaty(2026, 6, 11, 15, 0), tick=False):
        decide(case_id, ISSUE)
    result = outcome(case_id)
    assert result["code"] == "issued" and result["decided_by"] == "aigul.officer"
    case = cases.get(case_id)
    permit = db.session.execute(sa.select(Permit).filter_by(number=case.permit_no)).scalar_one()
    assert (permit.holder_iin, permit.region, permit.status) == (APPLICANT_IIN, "AST", "active")
    assert (permit.valid_from.isoformat(), permit.valid_to.isoformat()) == ("2026-04-01", "2027-03-31")
    assert units("held") == 0 and units("taken") == 1
    assert {n.recipient for n in sent("issued")} == {APPLICANT_IIN, application()["employer"]["iin"]}
    data = case_data(case_id)
    decision = data["deadlines"]["decision"]
    assert decision["rule"] == "working_days(2, exclude_start=True, end_of_day=True)"
    assert decision["met"] is True and decision["calendar_version"]
    assert data["deadlines"]["police_answer"]["met"] is True
    assert instances.get(case_id).status == "completed"


@pytest.mark.parametrize("change, expected", [
    ({"documents": [d for d in application()["documents"] if d["type"] != "medical_certificate"]},
     "not_accepted_incomplete"),
    ({"documents": [dict(d, valid_until="2026-06-01") if d["type"] == "medical_insurance" else d
                    for d in application()["documents"]]}, "not_accepted_expired_document"),
])
def test_an_incomplete_or_expired_set_is_not_accepted_with_a_receipt(service, change, expected):
    with time_machine.travel(FILED, tick=False):
        case = file_application(application(**change), filed_at=FILED)
    result = outcome(case.id)
    assert result["code"] == "not_accepted"
    assert [g["code"] for g in result["grounds"]] == [expected]
    assert units("held") == 0
    assert len(sent("not_accepted")) == 1 and open_task(case.id) is None


def test_the_receipt_lists_every_missing_and_expired_document(service):
    documents = [d for d in application()["documents"] if d["type"] not in ("medical_certificate", "tax_receipt")]
    documents = [dict(d, valid_until="2026-01-01") if d["type"] == "identity_document" else d for d in documents]
    with time_machine.travel(FILED, tick=False):
        case = file_application(application(documents=documents), filed_at=FILED)
    evidence = " ".join(g["evidence"] for g in outcome(case.id)["grounds"])
    for word in ("medical", "tax", "identity"):
        assert word in evidence.lower()


@pytest.mark.parametrize("change, expected", [
    ({"applicant__citizenship": "RU"}, ["ineligible_citizenship"]),
    ({"tax_payment__amount_kzt": 200_000}, ["tax_underpaid"]),
])
def test_each_automatic_refusal_alone(service, change, expected):
    with time_machine.travel(FILED, tick=False):
        case = file_application(application(**change), filed_at=FILED)
    assert outcome(case.id)["code"] == "refused"
    assert grounds(case.id) == expected
    assert units("held") == 0, "the quota hold is released on refusal"
    assert open_task(case.id) is None and len(sent("refused")) == 1


def test_an_eaeu_citizen_is_told_no_permit_is_needed(service):
    with time_machine.travel(FILED, tick=False):
        case = file_application(application(applicant__citizenship="KG"), filed_at=FILED)
    [ground] = outcome(case.id)["grounds"]
    assert ground["code"] == "ineligible_citizenship" and "without a permit" in ground["evidence"]


def test_several_failed_checks_give_one_refusal_with_every_ground(service):
    load_reference(service, quota=0)
    with time_machine.travel(FILED, tick=False):
        case = file_application(application(applicant__citizenship="RU", tax_payment__amount_kzt=1000),
                                filed_at=FILED)
    assert grounds(case.id) == ["ineligible_citizenship", "quota_exhausted", "tax_underpaid"]
    assert all(g["legal_basis"] and g["evidence"] for g in outcome(case.id)["grounds"])


def test_police_objection_refuses_with_the_police_reason(service):
    load_reference(service, watch=[{"iin": APPLICANT_IIN, "reason": "entry ban until 2027"}])
    case_id = file_and_police_answer(service)
    assert grounds(case_id) == ["police_objection"]
    assert "entry ban until 2027" in outcome(case_id)["grounds"][0]["evidence"]
    assert units("held") == 0


def test_police_silence_over_a_weekend_refuses_after_the_next_working_day(service):
    load_reference(service, silent=[{"iin": APPLICANT_IIN}])
    friday = almaty(2026, 6, 12, 11, 0)
    case_id = file_and_police_answer(service, at=friday)
    with time_machine.travel(almaty(2026, 6, 15, 23, 59, 0), tick=False):  # Monday, still in time
        sweep(service)
    assert outcome(case_id) is None
    with time_machine.travel(almaty(2026, 6, 16, 0, 0, 5), tick=False):
        sweep(service)
    assert grounds(case_id) == ["police_no_answer"]
    assert case_data(case_id)["deadlines"]["police_answer"]["met"] is False


def test_a_police_answer_arriving_after_its_term_is_late_and_refuses_whatever_the_sweeps_lag(service):
    """Filed Friday, due Monday 23:59:59; the approval arrives Tuesday 10:00 before any sweep
    has fired the timer: it counts by its arrival, so the deadline is missed and the case refused."""
    load_reference(service, silent=[{"iin": APPLICANT_IIN}])
    friday = almaty(2026, 6, 12, 11, 0)
    case_id = file_and_police_answer(service, at=friday)
    with time_machine.travel(almaty(2026, 6, 16, 10, 0), tick=False):
        delivery = messages.deliver("police_reply", case_id, {"verdict": "approve", "reason": None},
                                    message_id="ismp-late-1", actor="is-mp")
    assert delivery.status == "delivered"
    record = case_data(case_id)["deadlines"]["police_answer"]
    assert record["met"] is False and record["closed_at"].startswith("2026-06-16T05:00")
    assert grounds(case_id) == ["police_no_answer"] and open_task(case_id) is None


def test_a_police_answer_in_the_last_second_of_its_term_counts(service):
    load_reference(service, silent=[{"iin": APPLICANT_IIN}])
    friday = almaty(2026, 6, 12, 11, 0)
    case_id = file_and_police_answer(service, at=friday)
    with time_machine.travel(almaty(2026, 6, 15, 23, 59, 59), tick=False):
        messages.deliver("police_reply", case_id, {"verdict": "approve", "reason": None},
                         message_id="ismp-in-time-1", actor="is-mp")
    assert case_data(case_id)["deadlines"]["police_answer"]["met"] is True
    assert open_task(case_id) is not None and outcome(case_id) is None


def test_the_police_term_runs_from_when_the_request_was_delivered(service):
    """The request could not be delivered on Friday (a worker ran it on Monday morning): the
    answer is due at the end of Tuesday, the first working day after delivery."""
    load_reference(service, silent=[{"iin": APPLICANT_IIN}])
    friday = almaty(2026, 6, 12, 11, 0)
    with time_machine.travel(friday, tick=False):
        case_id = file_application(filed_at=friday, worker=False).id
    with time_machine.travel(almaty(2026, 6, 15, 9, 0), tick=False):
        sweep(service)
    record = case_data(case_id)["deadlines"]["police_answer"]
    assert record["due_at"].startswith("2026-06-16T23:59:59")


def test_police_silence_over_nauryz_counts_only_working_days(service):
    load_reference(service, silent=[{"iin": APPLICANT_IIN}])
    friday = almaty(2026, 3, 20, 11, 0)  # 21-25 March are days off
    case_id = file_and_police_answer(service, at=friday, body=application(period={"months": 12,
                                                                                "start_date": "2026-04-01"}))
    assert case_data(case_id)["deadlines"]["police_answer"]["due_at"] == "2026-03-26T23:59:59+05:00"
    with time_machine.travel(almaty(2026, 3, 25, 12, 0), tick=False):
        sweep(service)
    assert outcome(case_id) is None
    with time_machine.travel(almaty(2026, 3, 27, 0, 0, 5), tick=False):
        sweep(service)
    assert grounds(case_id) == ["police_no_answer"]


def test_reminder_at_nine_and_escalation_at_the_deadline_while_the_officer_still_decides(service):
    case_id = file_and_police_answer(service)
    with time_machine.travel(almaty(2026, 6, 12, 8, 59), tick=False):
        sweep(service)
    assert sent("reminder") == []
    with time_machine.travel(almaty(2026, 6, 12, 9, 0, 30), tick=False):
        sweep(service)
    [reminder] = sent("reminder")
    assert reminder.recipient == "role:officer:AST"
    assert open_task(case_id).escalated is False
    with time_machine.travel(almaty(2026, 6, 13, 0, 0, 30), tick=False):
        sweep(service)
    task = open_task(case_id)
    assert task.escalated is True, "the task stays with the officer, marked escalated"
    assert [n.recipient for n in sent("escalation")] == ["role:supervisor:AST"]
    with time_machine.travel(almaty(2026, 6, 15, 10, 0), tick=False):
        decide(case_id, ISSUE)
    assert outcome(case_id)["code"] == "issued"
    assert case_data(case_id)["deadlines"]["decision"]["met"] is False
    events = [e.event for e in audit.trail(case_id)]
    assert events.count("task_escalated") == 1


def test_the_officer_refusing_gives_the_officer_grounds_and_releases_the_hold(service):
    case_id = file_and_police_answer(service)
    decide(case_id, {"data_matches": True, "decision": "refuse", "grounds": ["other"],
                     "comment": "The employer's household is outside the region."})
    assert grounds(case_id) == ["other"]
    assert "outside the region" in outcome(case_id)["grounds"][0]["evidence"]
    assert units("held") == 0 and outcome(case_id)["decided_by"] == "aigul.officer"


@pytest.mark.parametrize("form, field", [
    ({"data_matches": False, "decision": "issue"}, "decision"),
    ({"data_matches": True, "decision": "refuse", "comment": "no"}, "grounds"),
    ({"data_matches": True, "decision": "refuse", "grounds": ["other"]}, "comment"),
])
def test_the_decision_form_refuses_what_the_law_forbids(service, form, field):
    case_id = file_and_police_answer(service)
    task = open_task(case_id)
    tasks.claim(task.id, OFFICER)
    with pytest.raises(InvalidData) as caught:
        tasks.complete(task.id, OFFICER, form)
    assert field in caught.value.errors
    assert outcome(case_id) is None and open_task(case_id) is not None


def test_data_mismatch_refusal_cites_the_identity_comparison(service):
    body = application(applicant__birth_date="1991-05-15")
    case_id = file_and_police_answer(service, body=body)
    identity = case_data(case_id)["identity"]
    assert identity["matches"] is False and "birth_date" in identity["differing"]
    decide(case_id, {"data_matches": False, "decision": "refuse", "grounds": ["data_mismatch"],
                     "comment": "The birth date differs from the IIN."})
    [ground] = outcome(case_id)["grounds"]
    assert ground["code"] == "data_mismatch" and "birth_date" in ground["evidence"]


def test_a_quota_of_one_with_two_cases_refuses_the_second(service):
    load_reference(service, quota=1)
    first = file_and_police_answer(service)
    second = file_and_police_answer(service, body=application(application_no="EGOV-2026-000002"))
    assert open_task(first) is not None
    assert grounds(second) == ["quota_exhausted"]
    decide(first, ISSUE)
    assert outcome(first)["code"] == "issued" and units("taken") == 1


def test_a_decision_term_of_one_day_in_configuration_moves_the_deadline(service):
    service.config["DECISION_TERM_WORKING_DAYS"] = 1
    case_id = file_and_police_answer(service)
    assert open_task(case_id).due_at == almaty(2026, 6, 11, 23, 59, 59)
    assert case_data(case_id)["deadlines"]["decision"]["rule"] == \
        "working_days(1, exclude_start=True, end_of_day=True)"


def test_an_officer_of_another_region_never_sees_the_decision(service):
    case_id = file_and_police_answer(service)
    assert tasks.queue(OTHER_REGION_OFFICER) == []
    assert [t.instance_id for t in tasks.queue(OFFICER)] == [case_id]


def test_a_decision_that_appears_after_its_deadline_is_escalated_at_once(service):
    service.config["DECISION_TERM_WORKING_DAYS"] = 1   # due end of Thursday
    service.config["POLICE_ANSWER_WORKING_DAYS"] = 2   # the police may answer until Friday
    service.config["POLICE_SIMULATOR_DELAY_SECONDS"] = 2 * 24 * 3600
    with time_machine.travel(FILED, tick=False):
        case_id = file_application(filed_at=FILED).id
        sweep(service)  # a worker delivers the police request at once
    with time_machine.travel(almaty(2026, 6, 12, 10, 0, 5), tick=False):  # Friday: the answer arrives
        sweep(service)
    task = open_task(case_id)
    assert task is not None and task.escalated is True
    assert [n.recipient for n in sent("escalation")] == ["role:supervisor:AST"]
