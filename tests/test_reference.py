"""Reference data from the command line: every change audited, a missing figure an error."""
import json

import pytest
import sqlalchemy as sa

from engine import clock
from engine.audit import AuditEvent
from engine.db import db
from handlers import cli, reference, tax
from handlers.reference import MissingReferenceData
from tests.test_operators_domain import APPLICANT_IIN, EMPLOYER_IIN, step_context


@pytest.fixture
def flask(app):
    """`flask ...` with the domain's commands, as app.py registers them."""
    if "reference" not in app.cli.commands:
        cli.register(app)
    runner = app.test_cli_runner()

    def run(*args):
        result = runner.invoke(args=list(args))
        db.session.remove()  # the command's session is not the test's
        return result
    return run


def changes():
    return list(db.session.execute(sa.select(AuditEvent).filter_by(event="reference_changed")
                                   .order_by(AuditEvent.id)).scalars())


def test_set_quota_is_stored_and_audited_with_old_and_new_value(flask):
    assert flask("reference", "set-quota", "ALA", "2026", "5000", "--actor", "ministry-admin").exit_code == 0
    assert flask("reference", "set-quota", "ala", "2026", "5200", "--actor", "ministry-admin").exit_code == 0
    assert reference.quota_units("ALA", 2026) == 5200
    first, second = changes()
    assert (first.actor, first.details) == ("ministry-admin", {"table": "quota", "key": {"region": "ALA", "year": 2026},
                                                               "old": None, "new": 5000})
    assert second.details["old"] == 5000 and second.details["new"] == 5200


def test_setting_the_same_value_again_changes_nothing_and_audits_nothing(flask):
    flask("reference", "set-mci", "2026", "4325")
    result = flask("reference", "set-mci", "2026", "4325")
    assert result.exit_code == 0 and "unchanged" in result.output
    assert len(changes()) == 1


@pytest.mark.parametrize("args, message", [
    (["set-quota", "XXX", "2026", "5"], "unknown region 'XXX'"),
    (["set-quota", "ALA", "2026", "--", "-1"], "at least 0"),
    (["set-mci", "2026", "0"], "at least 1"),
    (["set-tax-rate", "2026", "four"], "must be a number"),
    (["set-coefficient", "ALA", "0"], "above zero"),
    (["add-citizenship", "UZB"], "alpha-2"),
    (["police-add", "watch", "--iin", "950112300007", "--reason", "x"], "check digit"),
    (["police-add", "watch", "--iin", APPLICANT_IIN], "needs the reason"),
    (["contract-add", "C-1", "--employer-iin", EMPLOYER_IIN, "--worker-iin", APPLICANT_IIN,
      "--starts-on", "2026-05-01", "--ends-on", "2026-04-01"], "ends before it starts"),
])
def test_a_refused_value_changes_nothing_and_says_why(flask, args, message):
    result = flask("reference", *args)
    assert result.exit_code == 1 and message in result.output
    assert changes() == []


def test_tax_figures_set_by_the_administrator_are_what_the_tax_check_uses(flask, app):
    flask("reference", "set-mci", "2026", "4325")
    flask("reference", "set-tax-rate", "2026", "4")
    flask("reference", "set-coefficient", "ALA", "1.15")
    result = tax.check(step_context(app), payment=None, applicant_iin=APPLICANT_IIN,
                       filing_date="2026-03-20", months=1, region="ALA")
    assert result["due_kzt"] == 19_895  # 4 × 4,325 × 1.15
    assert result["calculation"]["regional_coefficient"] == "1.15"


def test_a_year_or_region_not_loaded_is_an_error_never_zero(app):
    with pytest.raises(MissingReferenceData, match="MCI for 2026 is not loaded"):
        tax.check(step_context(app), payment=None, applicant_iin=APPLICANT_IIN,
                  filing_date="2026-03-20", months=1, region="ALA")
    with pytest.raises(MissingReferenceData, match="quota for region ALA in 2026"):
        reference.quota_units("ALA", 2026)
    with pytest.raises(MissingReferenceData, match="no eligible citizenships"):
        reference.eligible_citizenships()


def test_load_dev_loads_the_law_figures_quotas_and_simulator_data_once(flask, app):
    result = flask("reference", "load-dev")
    assert result.exit_code == 0, result.output
    year = clock.local_now().year
    loaded = reference.snapshot()
    assert loaded["mci"]["2026"] == 4325 and loaded["tax_rate"]["2026"] == "4"
    assert loaded["tax_rate"]["2025"] == "2"
    assert set(loaded["regional_coefficient"]) == set(app.config["REGIONS"])
    assert loaded["eligible_citizenship"] == sorted(app.config["ELIGIBLE_CITIZENSHIPS"])
    assert all(loaded["quota"][r][str(y)] > 0 for r in app.config["REGIONS"] for y in (year - 1, year, year + 1))
    assert len(loaded["police_watch"]) == 2 and len(loaded["police_silent"]) == 1
    assert len(loaded["esutd_contract"]) == 1
    audited = len(changes())
    assert audited == int(result.output.split()[0])
    again = flask("reference", "load-dev")
    assert again.output.startswith("0 value(s) changed") and len(changes()) == audited


def test_load_reads_a_json_file_with_all_regions_at_once(flask, tmp_path, app):
    path = tmp_path / "reference-2027.json"
    path.write_text(json.dumps({"mci": {"2027": 4600}, "tax_rate": {"2027": 4},
                                "quota": {"*": {"2027": 800}, "ALA": {"2027": 12000}}}))
    result = flask("reference", "load", str(path), "--actor", "ministry")
    assert result.exit_code == 0 and result.output.startswith(f"{2 + len(app.config['REGIONS'])} value(s)")
    assert reference.quota_units("ALA", 2027) == 12000 and reference.quota_units("SHY", 2027) == 800
    assert {c.actor for c in changes()} == {"ministry"}


def test_load_refuses_an_unknown_table(flask, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"quotas": {}}))
    result = flask("reference", "load", str(path))
    assert result.exit_code == 1 and "unknown reference tables ['quotas']" in result.output


def test_citizenships_are_added_and_removed_with_an_audit(flask):
    flask("reference", "add-citizenship", "uz")
    flask("reference", "add-citizenship", "TJ")
    flask("reference", "remove-citizenship", "UZ")
    assert reference.eligible_citizenships() == ["TJ"]
    assert [(c.details["action"], c.details["key"]) for c in changes()] == [
        ("added", {"code": "UZ"}), ("added", {"code": "TJ"}), ("removed", {"code": "UZ"})]


def test_police_lists_are_audited_and_shown_with_the_iin_masked(flask):
    result = flask("reference", "police-add", "watch", "--iin", APPLICANT_IIN, "--passport", "FA1234567",
                   "--reason", "Entry banned", "--actor", "police-liaison")
    assert result.exit_code == 0 and "entry #" in result.output
    flask("reference", "police-add", "silent", "--iin", EMPLOYER_IIN)
    [watch, silent] = changes()
    assert watch.actor == "police-liaison" and watch.details["table"] == "police_watch"
    assert watch.details["iin"] == "9501******06" and watch.details["passport_no"] == "******567"
    assert silent.details["table"] == "police_silent"
    everything = json.dumps([c.details for c in changes()])
    assert APPLICANT_IIN not in everything and "FA1234567" not in everything
    shown = flask("reference", "show").output
    assert "9501******06" in shown and APPLICANT_IIN not in shown
    assert APPLICANT_IIN in flask("reference", "show", "--unmasked", "--json").output


def test_a_police_entry_is_removed_by_its_number(flask):
    flask("reference", "police-add", "silent", "--iin", APPLICANT_IIN)
    entry_id = reference.police_listings(APPLICANT_IIN, None)[0].id
    assert flask("reference", "police-remove", str(entry_id)).exit_code == 0
    assert reference.police_listings(APPLICANT_IIN, None) == []
    assert changes()[-1].details["action"] == "removed"
    assert flask("reference", "police-remove", str(entry_id)).exit_code == 1


def test_contracts_of_the_esutd_simulator_are_added_terminated_and_removed_with_an_audit(flask):
    flask("reference", "contract-add", "C-7", "--employer-iin", EMPLOYER_IIN, "--worker-iin", APPLICANT_IIN,
          "--starts-on", "2026-01-01")
    flask("reference", "contract-terminate", "C-7", "--on", "2026-06-30")
    [contract] = reference.contracts_between(EMPLOYER_IIN, APPLICANT_IIN)
    assert contract.terminated_on.isoformat() == "2026-06-30"
    flask("reference", "contract-remove", "C-7")
    assert reference.contracts_between(EMPLOYER_IIN, APPLICANT_IIN) == []
    assert [c.details["action"] for c in changes()] == ["added", "terminated", "removed"]
    assert changes()[0].details["worker_iin"] == "9501******06"


def test_lowering_a_quota_below_its_use_warns(flask, app):
    from handlers import quota
    flask("reference", "set-quota", "ALA", "2026", "2")
    quota.hold(step_context(app, "a"), region="ALA", valid_from="2026-05-01")
    quota.hold(step_context(app, "b"), region="ALA", valid_from="2026-05-01")
    db.session.commit()
    result = flask("reference", "set-quota", "ALA", "2026", "1")
    assert result.exit_code == 0 and "already in use" in result.output
