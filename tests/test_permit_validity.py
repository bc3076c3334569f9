"""The validity of a permit (processes/permit_validity.bpmn): watched from issue to expiry."""
import pytest
import sqlalchemy as sa
import time_machine

from engine import instances
from engine.db import db
from handlers.notifications import Notification
from handlers.quota import QuotaUnit
from tests.permit_support import (APPLICANT_IIN, EMPLOYER_IIN, almaty, application, case_data, deploy_procedures,
                                  issue_permit, load_reference, permit, sweep, validity_watch)


@pytest.fixture
def service(app):
    load_reference(app)
    deploy_procedures(app)
    return app


def units(status):
    return db.session.execute(sa.select(sa.func.count()).select_from(QuotaUnit)
                              .filter_by(status=status)).scalar_one()


def sent(template):
    return list(db.session.execute(sa.select(Notification).filter_by(template=template)).scalars())


def test_issuing_a_permit_starts_its_one_validity_watch(service):
    number = issue_permit(service)
    watch = validity_watch(number)
    assert watch is not None and watch.status == "in_progress" and watch.region == "AST"
    deadline = case_data(watch.id)["deadlines"]["validity"]
    assert deadline["due_at"] == "2026-10-01T00:00:00+05:00", "valid through the whole of 30.09.2026"
    assert deadline["rule"] == 'local_time_on("00:00")'


def test_a_permit_is_valid_through_its_last_day_then_expires_and_frees_its_quota_unit(service):
    number = issue_permit(service)
    assert units("taken") == 1
    with time_machine.travel(almaty(2026, 9, 30, 23, 59, 30), tick=False):
        sweep(service)
    assert permit(number).status == "active", "the valid_to day is still a day of validity"
    with time_machine.travel(almaty(2026, 10, 1, 0, 0, 5), tick=False):
        sweep(service)
    expired = permit(number)
    assert expired.status == "expired" and expired.events[-1].event == "expired"
    assert units("taken") == 0 and units("released") == 1, "expiry frees the quota unit"
    assert {n.recipient for n in sent("expired")} == {APPLICANT_IIN, EMPLOYER_IIN}
    assert "30.09.2026" in sent("expired")[0].body
    assert validity_watch(number).status == instances.COMPLETED


def test_a_freed_unit_lets_the_region_issue_again(service):
    load_reference(service, quota=1)
    first = issue_permit(service)
    with time_machine.travel(almaty(2026, 10, 1, 0, 0, 5), tick=False):
        sweep(service)
    assert permit(first).status == "expired"
    documents = [dict(d, valid_until="2027-04-01") if d["type"] == "medical_certificate" else d
                 for d in application()["documents"]]
    second = issue_permit(service, at=almaty(2026, 10, 5, 10, 0), start_date="2026-10-10",
                          application_no="EGOV-2026-000002", documents=documents)
    assert permit(second).status == "active"


def test_a_watch_started_once_its_process_has_a_dictionary_is_packed_and_still_expires_on_time(service):
    from engine import retention, state_dictionary
    first = issue_permit(service, application_no="EGOV-2026-FIRST")
    plain = validity_watch(first).state
    assert plain[:2] == b"\x1f\x8b"  # no dictionary yet: the engine's gzip
    with time_machine.travel(almaty(2026, 6, 10, 12, 0), tick=False):
        assert retention.run()["compression_dictionaries"] >= 1  # from the waiting watch's layout
    assert state_dictionary.for_process("permit_validity") is not None
    second = issue_permit(service, application_no="EGOV-2026-SECOND")
    watch = validity_watch(second)
    assert watch.state[:2] == b"SD" and len(watch.state) < 0.75 * len(plain), (len(watch.state), len(plain))
    assert case_data(watch.id)["deadlines"]["validity"]["due_at"] == "2026-10-01T00:00:00+05:00"
    with time_machine.travel(almaty(2026, 10, 1, 0, 0, 5), tick=False):
        sweep(service)
    assert permit(second).status == "expired" and validity_watch(second).status == instances.COMPLETED
