"""The revocation procedure (processes/permit_revocation.bpmn), with time travel.

Every scenario starts from a permit issued by the issue procedure: six months from 01.04.2026,
valid to 30.09.2026, in Astana.
"""
import pytest
import sqlalchemy as sa
import time_machine

from engine import instances, tasks
from engine.db import db
from engine.exceptions import Forbidden, InvalidData
from handlers import cases
from handlers.notifications import Notification
from handlers.quota import QuotaUnit
from tests.permit_support import (APPLICANT_IIN, EMPLOYER_IIN, OFFICER, almaty, case_data, deploy_procedures,
                                  file_revocation, issue_permit, load_reference, open_task, permit, sweep,
                                  validity_watch)
from tests.test_api_support import make_token

SECOND_OFFICER = tasks.Actor("berik.officer", frozenset({"officer"}), frozenset({"AST"}))
CONFIRM = {"decision": "confirm", "comment": "The police confirmed the forgery."}
DISMISS = {"decision": "dismiss", "comment": "The certificate was checked with the clinic and is genuine."}
REVIEWED = almaty(2026, 7, 1, 11, 0)


@pytest.fixture
def service(app):
    load_reference(app)
    deploy_procedures(app)
    return app


@pytest.fixture
def permit_no(service):
    return issue_permit(service)


def outcome(case_id):
    db.session.remove()
    return cases.get(case_id).outcome


def sent(template):
    return list(db.session.execute(sa.select(Notification).filter_by(template=template)).scalars())


def units(status):
    return db.session.execute(sa.select(sa.func.count()).select_from(QuotaUnit)
                              .filter_by(status=status)).scalar_one()


def start_revocation(permit_no, at=almaty(2026, 7, 1, 9, 0), **details) -> str:
    with time_machine.travel(at, tick=False):
        return file_revocation(permit_no, **details).id


def review(case_id, form, actor=SECOND_OFFICER, at=REVIEWED):
    with time_machine.travel(at, tick=False):
        task = open_task(case_id, "review")
        tasks.claim(task.id, actor)
        return tasks.complete(task.id, actor, form)


def test_a_confirmed_revocation_revokes_the_permit_frees_its_unit_and_ends_its_watch(service, permit_no):
    case_id = start_revocation(permit_no)
    task = open_task(case_id, "review")
    assert (task.role, task.region, task.name) == ("officer", "AST", "Review the revocation")
    review(case_id, CONFIRM)
    result = outcome(case_id)
    assert result["code"] == "revoked" and result["decided_by"] == "berik.officer"
    [ground] = result["grounds"]
    assert ground["code"] == "false_documents" and "forged" in ground["evidence"]
    assert ground["initiator"] == {"type": "police", "id": "MVD-AST-17"}
    revoked = permit(permit_no)
    assert (revoked.status, revoked.revocation_ground) == ("revoked", "false_documents")
    assert revoked.events[-1].details["confirmed_by"] == "berik.officer"
    assert units("taken") == 0 and units("released") == 1, "revocation frees the quota unit"
    assert {(n.channel, n.recipient) for n in sent("revoked")} == {
        ("egov", APPLICANT_IIN), ("egov", EMPLOYER_IIN), ("police", "is-mp:AST")}
    assert "01.07.2026" in sent("revoked")[0].body
    assert validity_watch(permit_no).status == instances.COMPLETED, "the watch learned of the revocation"
    assert case_data(case_id)["validity_told"]["status"] == "delivered"
    with time_machine.travel(almaty(2026, 10, 1, 0, 0, 5), tick=False):
        sweep(service)
    assert sent("expired") == [] and permit(permit_no).status == "revoked", "a revoked permit never expires"


def test_a_dismissed_revocation_keeps_the_permit_and_records_the_reason(service, permit_no):
    case_id = start_revocation(permit_no)
    review(case_id, DISMISS)
    result = outcome(case_id)
    assert result["code"] == "dismissed" and result["decided_by"] == "berik.officer"
    [reason] = result["grounds"]
    assert reason["evidence"] == DISMISS["comment"] and reason["alleged_ground"] == "false_documents"
    assert permit(permit_no).status == "active" and units("taken") == 1
    assert validity_watch(permit_no).status == instances.IN_PROGRESS
    assert sent("revoked") == []


def test_a_dismissal_needs_a_comment(service, permit_no):
    case_id = start_revocation(permit_no)
    with pytest.raises(InvalidData) as caught:
        review(case_id, {"decision": "dismiss", "comment": "  "})
    assert "comment" in caught.value.errors
    assert outcome(case_id) is None


def test_the_officer_who_initiated_a_revocation_may_not_confirm_it(service, permit_no):
    case_id = start_revocation(permit_no, ground="works_for_legal_entity", details="Seen working at a cafe.",
                               initiator=("officer", OFFICER.name), created_by=f"api:{OFFICER.name}")
    with pytest.raises(Forbidden) as caught:
        review(case_id, CONFIRM, actor=OFFICER)
    assert "four-eyes" in str(caught.value) and "another officer" in str(caught.value)
    db.session.remove()
    assert outcome(case_id) is None and permit(permit_no).status == "active"
    task = open_task(case_id, "review")
    assert task is not None and task.status == "ready"
    tasks.unclaim(task.id, OFFICER)
    review(case_id, CONFIRM, actor=SECOND_OFFICER)
    assert outcome(case_id)["code"] == "revoked"


def test_the_initiating_officer_may_still_dismiss_the_revocation(service, permit_no):
    case_id = start_revocation(permit_no, ground="other", details="An anonymous letter.",
                               initiator=("officer", OFFICER.name))
    review(case_id, DISMISS, actor=OFFICER)
    assert outcome(case_id)["code"] == "dismissed"


def test_revoking_an_expired_permit_is_refused_with_the_reason(service, permit_no):
    with time_machine.travel(almaty(2026, 10, 1, 0, 0, 5), tick=False):
        sweep(service)
        assert permit(permit_no).status == "expired"
        case_id = start_revocation(permit_no)
    result = outcome(case_id)
    assert result["code"] == "refused" and open_task(case_id, "review") is None
    [ground] = result["grounds"]
    assert ground["code"] == "permit_not_active"
    assert "expired at the end of 30.09.2026" in ground["evidence"] and "not revoked" in ground["evidence"]
    assert [u.release_reason for u in db.session.execute(sa.select(QuotaUnit)).scalars()] == ["expired"]


def test_the_api_refuses_to_start_revoking_an_expired_permit(service, permit_no, client):
    with time_machine.travel(almaty(2026, 10, 1, 0, 0, 5), tick=False):
        sweep(service)
        headers = make_token(name="akimat-ast", regions=["AST"])
        response = client.post(f"/api/v1/permits/{permit_no}/revocations", headers=headers, json={
            "ground": "tax_violation", "details": None, "initiator": {"type": "officer", "id": "aigul.officer"}})
    assert response.status_code == 409
    assert "expired" in response.get_json()["detail"]
    assert db.session.execute(sa.select(sa.func.count()).select_from(cases.Case)
                              .filter_by(kind="revocation")).scalar_one() == 0


def test_a_permit_that_expires_while_under_review_is_not_revoked(service, permit_no):
    with time_machine.travel(almaty(2026, 9, 29, 10, 0), tick=False):
        case_id = start_revocation(permit_no)
    with time_machine.travel(almaty(2026, 10, 1, 0, 0, 5), tick=False):
        sweep(service)
    review(case_id, CONFIRM, at=almaty(2026, 10, 1, 10, 0))
    result = outcome(case_id)
    assert result["code"] == "refused" and "expired" in result["grounds"][0]["evidence"]
    assert permit(permit_no).status == "expired" and sent("revoked") == []


def test_revoking_a_revoked_permit_again_is_refused(service, permit_no):
    first = start_revocation(permit_no)
    review(first, CONFIRM)
    second = start_revocation(permit_no, at=almaty(2026, 7, 2, 9, 0), ground="contract_terminated",
                              details="Contract ended.")
    assert outcome(second)["code"] == "refused"
    assert "already revoked on 01.07.2026" in outcome(second)["grounds"][0]["evidence"]


def test_an_esutd_contract_termination_starts_a_revocation(service, permit_no, client):
    headers = make_token(name="esutd")
    with time_machine.travel(almaty(2026, 7, 1, 9, 0), tick=False):
        response = client.post("/api/v1/messages/contract_terminated", headers=headers, json={
            "message_id": "esutd-42", "correlation": permit_no,
            "payload": {"terminated_on": "2026-06-30", "contract_no": "EC-1"}})
    assert response.status_code == 202, response.get_json()
    case_id = response.get_json()["case_id"]
    case = cases.get(case_id)
    assert (case.kind, case.permit_no, case.region) == ("revocation", permit_no, "AST")
    data = case_data(case_id)
    assert data["revocation"]["ground"] == "contract_terminated"
    assert data["revocation"]["initiator"] == {"type": "esutd", "id": "EC-1"}
    assert open_task(case_id, "review") is not None, "an officer reviews every revocation"
    review(case_id, {"decision": "confirm", "comment": "The employer confirmed the termination."})
    assert outcome(case_id)["code"] == "revoked"
    assert permit(permit_no).revocation_ground == "contract_terminated"


def test_a_dismissed_revocation_is_found_by_the_contracts_outcome_code(service, permit_no, client):
    case_id = start_revocation(permit_no)
    review(case_id, DISMISS)
    headers = make_token(name="akimat-ast", regions=["AST"])
    listed = client.get("/api/v1/cases?outcome=dismissed&kind=revocation", headers=headers)
    assert listed.status_code == 200
    assert [c["case_id"] for c in listed.get_json()["items"]] == [case_id]
    assert listed.get_json()["items"][0]["outcome"]["code"] == "dismissed"
    shown = client.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()
    assert shown["outcome"]["code"] == "dismissed"


def test_revocation_outcomes_stored_under_the_old_codes_take_the_contracts_codes(service, permit_no):
    dismissed = start_revocation(permit_no)
    review(dismissed, DISMISS)
    refused = start_revocation(permit_no, details="Second report.")
    db.session.remove()
    # Rows as the service stored them before: the migration must rename them.
    for case_id, old in ((dismissed, "revocation_dismissed"), (refused, "revocation_refused")):
        row = cases.get(case_id)
        row.outcome_code, row.outcome = old, dict(row.outcome or {"grounds": []}, code=old)
    db.session.commit()
    _run_migration("client_contract", "downgrade", "upgrade")
    assert (outcome(dismissed)["code"], cases.get(dismissed).outcome_code) == ("dismissed", "dismissed")
    assert (outcome(refused)["code"], cases.get(refused).outcome_code) == ("refused", "refused")
    assert outcome(dismissed)["grounds"][0]["evidence"] == DISMISS["comment"], "the rest of the outcome is kept"


def _run_migration(name, *directions):
    import importlib.util
    from pathlib import Path

    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    [path] = (Path(__file__).resolve().parent.parent / "migrations" / "versions").glob(f"*_{name}.py")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for direction in directions:
        with db.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
            getattr(module, direction)()
    db.session.remove()


# --- a revocation started by a message: one receipt, the engine's, with the case ---------------

def _revocation_cases(permit_no):
    return list(db.session.execute(sa.select(cases.Case.id).filter_by(kind="revocation", permit_no=permit_no))
                .scalars())


def _terminated(permit_no, message_id="esutd:TD-1", **options):
    from handlers import revocations
    return revocations.on_contract_terminated(
        message_id, permit_no, {"terminated_on": "2026-06-30", "contract_no": "TD-1"},
        process_id="permit_revocation", actor="api:esutd", **options)


def test_a_terminated_contract_message_sent_twice_at_once_starts_one_revocation(service, permit_no):
    import threading
    db.session.remove()
    barrier, outcomes = threading.Barrier(2), []

    def send():
        with service.app_context():
            barrier.wait()
            try:
                with time_machine.travel(almaty(2026, 7, 1, 9, 0), tick=False):
                    outcomes.append(_terminated(permit_no))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(d.status for d in outcomes) == ["delivered", "duplicate"]
    [started] = _revocation_cases(permit_no)
    assert {d.instance_id for d in outcomes} == {started}
    assert [d.first_status for d in outcomes if d.status == "duplicate"] == ["delivered"]
    from engine import messages
    receipt = messages.receipt("esutd:TD-1")
    assert (receipt.status, receipt.instance_id) == ("delivered", started)


def test_a_refused_terminated_contract_is_remembered_and_a_failed_one_leaves_no_receipt(service, permit_no):
    from engine import messages
    from handlers import revocations
    with time_machine.travel(almaty(2026, 7, 1, 9, 0), tick=False):
        first = _terminated(permit_no, "esutd:A")
        refused = _terminated(permit_no, "esutd:B")  # the first revocation is still under way
    assert (refused.status, refused.instance_id) == ("not_waiting", first.instance_id)
    assert "already in progress" in refused.detail
    assert messages.receipt("esutd:B").status == "not_waiting"
    assert _terminated(permit_no, "esutd:B").status == "duplicate"

    def no_access(permit):
        raise Forbidden("not this region")
    with pytest.raises(Forbidden):
        _terminated(permit_no, "esutd:C", may_act_on=no_access)
    assert messages.receipt("esutd:C") is None, "refused before acting: the message may be sent again"
    assert _terminated("AST-2026-999999", "esutd:D").status == "not_found"
    with pytest.raises(revocations.RevocationInProgress) as found:
        revocations.open_revocation(revocations.find_permit(permit_no), "false_documents", None,
                                    {"type": "officer", "id": "x"}, process_id="permit_revocation", created_by="test")
    assert found.value.case_id == first.instance_id
    assert len(_revocation_cases(permit_no)) == 1
