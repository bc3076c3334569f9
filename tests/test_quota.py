"""The quota per region and year (docs/law.md §6): held, taken, freed, and never exceeded."""
import threading

import pytest
import sqlalchemy as sa

from engine.db import db
from handlers import permits, quota, reference
from handlers.reference import MissingReferenceData
from tests.test_operators_domain import APPLICANT, EMPLOYER, load_reference, step_context


def hold(app, case, region="ALA", valid_from="2026-04-01"):
    result = quota.hold(step_context(app, case), region=region, valid_from=valid_from)
    db.session.commit()
    return result


def issue(app, case, region="ALA", valid_from="2026-04-01", months=6):
    permit = permits.register(step_context(app, case), region=region, holder=APPLICANT,
                              employer=EMPLOYER, valid_from=valid_from, months=months)
    db.session.commit()
    return permit


def test_a_hold_takes_one_unit_of_the_region_for_the_year_of_valid_from(app):
    load_reference(app, {"ALA": {"2026": 3, "2027": 3}})
    result = hold(app, "case-1", valid_from="2026-12-15")
    assert result["held"] is True and result["ok"] is True
    assert (result["region"], result["year"], result["used"], result["remaining"]) == ("ALA", 2026, 1, 2)
    assert quota.usage("ALA", 2027)["used"] == 0


def test_a_case_holds_one_unit_however_often_it_asks(app):
    load_reference(app, {"ALA": {"2026": 3}})
    hold(app, "case-1")
    again = hold(app, "case-1")
    assert again["already_held"] is True and quota.usage("ALA", 2026)["held"] == 1


def test_a_case_that_moves_its_start_to_another_year_keeps_only_the_new_unit(app):
    load_reference(app, {"ALA": {"2026": 3, "2027": 3}})
    hold(app, "case-1", valid_from="2026-12-01")
    hold(app, "case-1", valid_from="2027-01-10")
    assert quota.usage("ALA", 2026)["used"] == 0 and quota.usage("ALA", 2027)["held"] == 1


def test_exhausted_quota_refuses_with_the_quota_exhausted_ground(app):
    load_reference(app, {"SHY": {"2026": 2}})
    assert hold(app, "a", "SHY")["held"] and hold(app, "b", "SHY")["held"]
    third = hold(app, "c", "SHY")
    assert third["ok"] is False and third["held"] is False and third["remaining"] == 0
    [ground] = third["grounds"]
    assert ground["code"] == "quota_exhausted" and ground["check"] == "quota.available"
    assert "Shymkent" in ground["evidence"] and "2 permit(s)" in ground["evidence"]


def test_a_zero_quota_refuses_and_a_missing_quota_is_an_error(app):
    load_reference(app, {"ALA": {"2026": 0}})
    assert hold(app, "a")["grounds"][0]["code"] == "quota_exhausted"
    with pytest.raises(MissingReferenceData, match="quota for region AST in 2026 is not loaded"):
        hold(app, "b", region="AST")


def test_a_refusal_releases_the_held_unit_for_the_next_case(app):
    load_reference(app, {"ALA": {"2026": 1}})
    hold(app, "refused-case")
    assert hold(app, "next-case")["held"] is False
    released = quota.release(step_context(app, "refused-case"), reason="refused")
    db.session.commit()
    assert released["released"] is True and released["unit"]["release_reason"] == "refused"
    assert hold(app, "next-case")["held"] is True


def test_releasing_twice_or_without_a_hold_changes_nothing(app):
    load_reference(app, {"ALA": {"2026": 1}})
    hold(app, "a")
    quota.release(step_context(app, "a"))
    assert quota.release(step_context(app, "a"))["released"] is False
    assert quota.release(step_context(app, "never-held"))["released"] is False


def test_the_unit_becomes_the_permits_on_issue_and_counts_while_the_permit_is_valid(app):
    load_reference(app, {"ALA": {"2026": 1}})
    hold(app, "issued-case")
    permit = issue(app, "issued-case")
    usage = quota.usage("ALA", 2026)
    assert (usage["held"], usage["taken"], usage["remaining"]) == (0, 1, 0)
    unit = db.session.execute(sa.select(quota.QuotaUnit)).scalar_one()
    assert (unit.status, unit.permit_number) == ("taken", permit["number"])
    assert quota.release(step_context(app, "issued-case"))["released"] is False  # a permit's unit is not a hold


def test_a_revoked_permit_frees_its_unit(app):
    load_reference(app, {"ALA": {"2026": 1}})
    hold(app, "issued-case")
    number = issue(app, "issued-case")["number"]
    permits.revoke(step_context(app, "revocation-case"), permit_no=number, ground="contract_terminated",
                   initiator_type="esutd", initiator_id="ESUTD")
    db.session.commit()
    assert quota.usage("ALA", 2026)["used"] == 0
    assert hold(app, "next-case")["held"] is True


def test_an_expired_permit_frees_its_unit(app):
    import time_machine
    load_reference(app, {"ALA": {"2026": 1}})
    hold(app, "issued-case")
    number = issue(app, "issued-case", valid_from="2026-04-01", months=1)["number"]
    with time_machine.travel("2026-05-01T00:00:01+05:00"):
        result = permits.expire(step_context(app, "validity-case"), permit_no=number)
        db.session.commit()
    assert result["expired"] is True
    assert quota.usage("ALA", 2026)["used"] == 0


def test_twenty_concurrent_holds_against_a_quota_of_five_hold_exactly_five(app):
    load_reference(app, {"ALA": {"2026": 5}})
    results, errors = [], []
    start = threading.Barrier(20)

    def one_case(i):
        with app.app_context():
            try:
                start.wait()
                results.append(hold(app, f"case-{i:02d}"))
            except Exception as err:  # pragma: no cover - reported below
                errors.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one_case, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(results) == 20
    held = [r for r in results if r["held"]]
    refused = [r for r in results if not r["held"]]
    assert len(held) == 5 and len(refused) == 15
    assert all(r["grounds"][0]["code"] == "quota_exhausted" for r in refused)
    assert quota.usage("ALA", 2026)["held"] == 5
    assert db.session.execute(sa.select(sa.func.count()).select_from(quota.QuotaUnit)).scalar_one() == 5


def test_the_quota_of_one_region_does_not_serve_another(app):
    load_reference(app, {"ALA": {"2026": 1}, "AST": {"2026": 1}})
    hold(app, "a", "ALA")
    assert hold(app, "b", "ALA")["held"] is False
    assert hold(app, "c", "AST")["held"] is True


def test_usage_reads_the_administered_quota(app):
    load_reference(app, {"ALA": {"2026": 5}})
    reference.set_quota("ALA", 2026, 7, actor="admin", regions=app.config["REGIONS"])
    db.session.commit()
    assert quota.usage("ALA", 2026)["quota_units"] == 7


def _counted_from_rows(region, year):
    rows = dict(db.session.execute(sa.select(quota.QuotaUnit.status, sa.func.count()).where(
        quota.QuotaUnit.region == region, quota.QuotaUnit.year == year).group_by(quota.QuotaUnit.status)).all())
    return rows.get("held", 0), rows.get("taken", 0)


def test_the_quota_use_counter_follows_every_hold_take_and_release(app):
    load_reference(app, {"ALA": {"2026": 4, "2027": 4}})
    hold(app, "a")
    hold(app, "b")
    hold(app, "c")
    hold(app, "c", valid_from="2027-02-01")  # moves to another year: its 2026 unit is freed
    number = issue(app, "a")["number"]
    quota.release(step_context(app, "b"), reason="refused")
    db.session.commit()
    usage = quota.usage("ALA", 2026)
    assert (usage["held"], usage["taken"]) == _counted_from_rows("ALA", 2026) == (0, 1)
    assert (quota.usage("ALA", 2027)["held"], quota.usage("ALA", 2027)["taken"]) == _counted_from_rows("ALA", 2027)
    permits.revoke(step_context(app, "revocation-case"), permit_no=number, ground="contract_terminated",
                   initiator_type="esutd", initiator_id="ESUTD")
    db.session.commit()
    assert (quota.usage("ALA", 2026)["held"], quota.usage("ALA", 2026)["taken"]) == _counted_from_rows("ALA", 2026) \
        == (0, 0)


def test_the_migration_starts_the_counter_from_the_units_stored_before_it(app):
    from flask_migrate import downgrade, upgrade
    load_reference(app, {"ALA": {"2026": 9}})
    hold(app, "a")
    hold(app, "b")
    issue(app, "a")
    hold(app, "c")
    quota.release(step_context(app, "c"), reason="refused")
    db.session.commit()
    db.session.remove()
    downgrade(revision="0011_client_contract")
    try:
        assert "quota_usage" not in sa.inspect(db.engine).get_table_names()
    finally:
        upgrade()
    usage = quota.usage("ALA", 2026)
    assert (usage["held"], usage["taken"], usage["remaining"]) == (1, 1, 7)
