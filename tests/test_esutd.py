"""ЕСУТД: a registered employment contract covering the period, from the simulator or over HTTP."""
import pytest

from engine import instances, scheduler
from engine.db import db
from handlers import esutd, reference
from tests.test_operators_domain import APPLICANT_IIN, EMPLOYER_IIN, deploy_linear, load_reference, step_context
from tests.test_police import ScriptedServer

CHECK_STEPS = [{"id": "check_contract", "operator": "esutd.check_contract",
                "params": {"employer_iin": "employer_iin", "worker_iin": "worker_iin",
                           "period_from": "period_from", "period_to": "period_to"},
                "result": "contract_check"}]


def contract(number="C-1", starts_on="2026-01-01", ends_on=None, employer=EMPLOYER_IIN,
             worker=APPLICANT_IIN):
    reference.add_contract(number, employer_iin=employer, worker_iin=worker, starts_on=starts_on,
                           ends_on=ends_on, actor="admin")
    db.session.commit()


def check(app, period_from="2026-10-01", period_to="2026-12-31", employer=EMPLOYER_IIN):
    return esutd.check_contract(step_context(app), employer_iin=employer, worker_iin=APPLICANT_IIN,
                                period_from=period_from, period_to=period_to)


def start_checked(app, tmp_path):
    """Start the one-step diagram; then, as a worker does at once, run its ЕСУТД job."""
    app.config.update(JOB_BACKOFF_SECONDS=0, JOB_MAX_ATTEMPTS=3)
    deploy_linear(app, tmp_path, "test_esutd", CHECK_STEPS)
    row = instances.start("test_esutd", {"employer_iin": EMPLOYER_IIN, "worker_iin": APPLICANT_IIN,
                                         "period_from": "2026-10-01", "period_to": "2026-12-31"},
                          actor="test")
    instance_id = row.id
    assert row.status == "in_progress"  # ЕСУТД is asked by a worker, never inside the step
    scheduler.run_jobs()
    db.session.remove()
    return instances.get(instance_id)


@pytest.fixture
def simulator(app):
    load_reference(app)
    return app


def test_an_indefinite_contract_registered_before_the_period_covers_it(simulator):
    contract()
    result = check(simulator)
    assert result["ok"] is True and result["registered"] is True and result["adapter"] == "simulator"
    assert result["contract"]["number"] == "C-1" and result["grounds"] == []


def test_no_contract_between_this_employer_and_worker_is_contract_not_registered(simulator):
    contract(employer="850701600006")
    result = check(simulator)
    [ground] = result["grounds"]
    assert ground["code"] == "contract_not_registered" and result["registered"] is False
    assert "none is registered" in ground["evidence"]
    assert APPLICANT_IIN not in ground["evidence"] and "9501******06" in ground["evidence"]


def test_a_contract_ending_before_the_period_ends_does_not_cover_it(simulator):
    contract(ends_on="2026-11-30")
    result = check(simulator)
    assert result["ok"] is False
    assert "No. C-1 from 01.01.2026 to 30.11.2026" in result["grounds"][0]["evidence"]


def test_a_contract_starting_after_the_period_starts_does_not_cover_it(simulator):
    contract(starts_on="2026-10-15")
    assert check(simulator)["ok"] is False


def test_a_terminated_contract_no_longer_covers_the_period(simulator):
    contract()
    reference.terminate_contract("C-1", "2026-11-01", actor="employer")
    db.session.commit()
    result = check(simulator)
    assert result["ok"] is False and "terminated on 01.11.2026" in result["grounds"][0]["evidence"]
    assert check(simulator, period_from="2026-09-01", period_to="2026-10-31")["ok"] is True


def test_one_covering_contract_among_several_is_enough(simulator):
    contract("C-old", starts_on="2025-01-01", ends_on="2025-12-31")
    contract("C-new", starts_on="2026-01-01", ends_on="2027-12-31")
    assert check(simulator)["contract"]["number"] == "C-new"


def test_the_operator_runs_in_a_diagram(simulator, tmp_path):
    contract()
    row = start_checked(simulator, tmp_path)
    assert row.status == "completed"
    assert instances.peek(row).data["contract_check"]["registered"] is True


# --- the HTTP adapter ------------------------------------------------------------------------

def test_the_http_adapter_asks_with_the_iins_in_the_body_and_applies_the_same_rule(app):
    answer = {"contracts": [{"number": "E-77", "starts_on": "2026-02-01", "ends_on": None,
                             "terminated_on": None, "registered_on": "2026-02-01"}]}
    with ScriptedServer([(200, answer, 0)]) as server:
        app.config.update(ESUTD_ADAPTER="http", ESUTD_URL=server.url + "contracts/search")
        covered = check(app)
        not_covered = check(app, period_from="2026-01-15", period_to="2026-03-31")
    assert covered["ok"] is True and covered["adapter"] == "http" and covered["contract"]["number"] == "E-77"
    assert not_covered["grounds"][0]["code"] == "contract_not_registered"
    first = server.requests[0]
    assert first["path"] == "/contracts/search"
    assert first["json"] == {"employer_iin": EMPLOYER_IIN, "worker_iin": APPLICANT_IIN}


def test_esutd_unavailable_is_retried_then_answers(app, tmp_path):
    answer = {"contracts": []}
    with ScriptedServer([(503, {}, 0), (200, answer, 0)]) as server:
        app.config.update(ESUTD_ADAPTER="http", ESUTD_URL=server.url)
        row = start_checked(app, tmp_path)
    assert row.status == "completed" and len(server.requests) == 2
    assert instances.peek(row).data["contract_check"]["ok"] is False


def test_esutd_down_is_an_incident_after_the_retries(app, tmp_path):
    with ScriptedServer([(500, {}, 0)]) as server:
        app.config.update(ESUTD_ADAPTER="http", ESUTD_URL=server.url)
        row = start_checked(app, tmp_path)
    assert row.status == "incident" and row.incident_error_type == "EsutdUnavailable"
    assert len(server.requests) == 3 and "after 3 attempt(s)" in row.incident_message


def test_esutd_timeout_is_unavailable(app):
    with ScriptedServer([(200, {"contracts": []}, 1.0)]) as server:
        app.config.update(ESUTD_ADAPTER="http", ESUTD_URL=server.url, HTTP_TIMEOUT_SECONDS=0.2)
        with pytest.raises(esutd.EsutdUnavailable):
            check(app)


def test_an_unreadable_answer_is_refused_not_taken_for_no_contract(app):
    with ScriptedServer([(200, {"unexpected": True}, 0)]) as server:
        app.config.update(ESUTD_ADAPTER="http", ESUTD_URL=server.url)
        with pytest.raises(esutd.EsutdRequestRefused, match="unreadable"):
            check(app)
