"""The IIT prepayment for the permit period (docs/law.md §5)."""
import json

import pytest

from handlers.tax import DEFAULT_TABLES, MissingReferenceData, check_tax, default_tables, tax_due

REGIONS = ["ALA", "AST", "SHY", "TUR"]
TABLES = default_tables(REGIONS)
APPLICANT = "950112300006"
OTHER_PERSON = "950112300700"


def receipt(amount, payer=APPLICANT):
    return {"receipt_no": "R-100", "amount_kzt": amount, "paid_at": "2026-03-18",
            "payer_iin": payer}


def test_tax_for_twelve_months_of_2026_is_207600():
    assert tax_due(2026, 12, "ALA", TABLES) == 4 * 4325 * 12 == 207_600


def test_tax_for_twelve_months_of_2025_at_two_mci_is_94368():
    assert tax_due(2025, 12, "ALA", TABLES) == 2 * 3932 * 12 == 94_368


@pytest.mark.parametrize("year, mci, rate", [(2023, 3450, 2), (2024, 3692, 2),
                                             (2025, 3932, 2), (2026, 4325, 4)])
def test_one_month_costs_the_rate_times_the_year_mci(year, mci, rate):
    assert tax_due(year, 1, "AST", TABLES) == rate * mci


def test_extension_for_three_more_months_in_2026_is_51900():
    assert tax_due(2026, 3, "SHY", TABLES) == 51_900


def test_a_year_without_mci_is_an_error_the_operator_sees():
    with pytest.raises(MissingReferenceData, match="MCI for 2027 is not loaded"):
        tax_due(2027, 12, "ALA", TABLES)


def test_a_year_without_a_rate_is_an_error():
    tables = {**TABLES, "mci": {**TABLES["mci"], 2027: 4500}}
    with pytest.raises(MissingReferenceData, match="rate .* for 2027 is not loaded"):
        tax_due(2027, 12, "ALA", tables)


def test_a_region_without_a_coefficient_is_an_error_not_one():
    with pytest.raises(MissingReferenceData, match="region KAR is not loaded"):
        tax_due(2026, 12, "KAR", TABLES)


def test_year_keys_may_be_strings_as_json_gives_them():
    tables = json.loads(json.dumps(TABLES))
    assert tax_due(2026, 12, "ALA", tables) == 207_600


def test_regional_coefficient_multiplies_the_amount():
    tables = {**TABLES, "regional_coefficient": {"ALA": "1.15"}}
    assert tax_due(2026, 1, "ALA", tables) == 19_895  # 17,300 × 1.15 exactly


def test_amount_is_rounded_half_up_to_whole_tenge():
    tables = {"mci": {2026: 5}, "rate_mci_per_month": {2026: 1},
              "regional_coefficient": {"ALA": 0.5}}
    assert tax_due(2026, 1, "ALA", tables) == 3  # 2.5 -> 3, not banker's 2
    # In floats 100 × 1.005 is 100.49999999999999; the coefficient is read as written.
    tables = {**tables, "mci": {2026: 100}, "regional_coefficient": {"ALA": 1.005}}
    assert tax_due(2026, 1, "ALA", tables) == 101


def test_default_tables_give_every_region_the_coefficient_one():
    tables = default_tables(["ABA", "ULT"])
    assert tables["regional_coefficient"] == {"ABA": 1.0, "ULT": 1.0}
    assert tables["mci"] == {2023: 3450, 2024: 3692, 2025: 3932, 2026: 4325}  # the law's MCI
    assert tables["rate_mci_per_month"] == {2023: 2, 2024: 2, 2025: 2, 2026: 4}


def test_changing_a_tables_copy_leaves_the_defaults_as_the_law_has_them():
    tables = default_tables(["ALA"])
    tables["mci"][2026] = 1
    tables["rate_mci_per_month"][2026] = 1
    assert DEFAULT_TABLES["mci"][2026] == 4325 and DEFAULT_TABLES["rate_mci_per_month"][2026] == 4
    assert tax_due(2026, 12, "ALA", default_tables(["ALA"])) == 207_600


def test_receipt_covering_the_months_passes():
    result = check_tax(receipt(207_600), APPLICANT, 2026, 12, "ALA", TABLES)
    assert result["ok"] is True
    assert (result["due_kzt"], result["paid_kzt"], result["shortfall_kzt"]) == (207_600, 207_600, 0)
    assert result["grounds"] == []
    json.dumps(result)


def test_paying_more_than_due_passes():
    assert check_tax(receipt(300_000), APPLICANT, 2026, 12, "ALA", TABLES)["ok"] is True


def test_receipt_one_tenge_short_is_refused_as_tax_underpaid_with_the_figures():
    result = check_tax(receipt(207_599), APPLICANT, 2026, 12, "ALA", TABLES)
    assert result["ok"] is False
    [ground] = result["grounds"]
    assert ground["code"] == "tax_underpaid" and ground["check"] == "tax.amount"
    assert "207 599 KZT paid" in ground["evidence"]
    assert "207 600 KZT" in ground["evidence"]
    assert "4 MCI × 4 325 KZT × 12 month(s)" in ground["evidence"]
    assert "Short by 1 KZT" in ground["evidence"]
    assert ground["shortfall_kzt"] == 1


def test_receipt_paid_under_another_iin_is_refused_as_tax_underpaid():
    result = check_tax(receipt(207_600, payer=OTHER_PERSON), APPLICANT, 2026, 12, "ALA", TABLES)
    assert result["ok"] is False and result["payer_matches"] is False
    [ground] = result["grounds"]
    assert ground["code"] == "tax_underpaid" and ground["check"] == "tax.payer"
    # Both IINs masked: the evidence is printed on the refusal.
    assert APPLICANT not in ground["evidence"] and OTHER_PERSON not in ground["evidence"]
    assert "9501******06" in ground["evidence"]


def test_short_receipt_of_another_person_gives_both_grounds():
    result = check_tax(receipt(1_000, payer=OTHER_PERSON), APPLICANT, 2026, 12, "ALA", TABLES)
    assert [g["check"] for g in result["grounds"]] == ["tax.amount", "tax.payer"]


def test_no_receipt_is_nothing_paid():
    result = check_tax(None, APPLICANT, 2026, 3, "ALA", TABLES)
    assert result["paid_kzt"] == 0 and result["shortfall_kzt"] == 51_900
    assert [g["check"] for g in result["grounds"]] == ["tax.amount"]


def test_amount_must_be_whole_tenge():
    with pytest.raises(ValueError):
        check_tax(receipt(207_600.0), APPLICANT, 2026, 12, "ALA", TABLES)


@pytest.mark.parametrize("months", [0, -1, 1.5, True])
def test_months_must_be_a_positive_whole_number(months):
    with pytest.raises(ValueError):
        tax_due(2026, months, "ALA", TABLES)
