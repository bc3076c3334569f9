"""Citizenship eligibility (docs/law.md §8)."""
import pytest

from handlers.eligibility import check_citizenship

CONFIG = {"ELIGIBLE_CITIZENSHIPS": ["UZ", "TJ", "AZ", "MD", "GE", "UA"],
          "EAEU_CITIZENSHIPS": ["RU", "KG", "BY", "AM"]}


@pytest.mark.parametrize("code", ["UZ", "TJ", "AZ", "MD", "GE", "UA", "uz"])
def test_citizen_of_an_eligible_state_passes(code):
    result = check_citizenship(code, CONFIG)
    assert result["ok"] is True and result["grounds"] == []
    assert result["citizenship"] == code.upper()


@pytest.mark.parametrize("code", ["RU", "KG", "BY", "AM"])
def test_eaeu_citizen_is_refused_and_told_no_permit_is_needed(code):
    result = check_citizenship(code, CONFIG)
    assert result["ok"] is False and result["eaeu"] is True
    [ground] = result["grounds"]
    assert ground["code"] == "ineligible_citizenship"
    assert "Eurasian Economic Union" in ground["evidence"]
    assert "without a permit" in ground["evidence"]
    assert "article 97" in ground["evidence"]


def test_citizen_of_another_state_is_refused_with_the_eligible_list_as_evidence():
    result = check_citizenship("CN", CONFIG)
    [ground] = result["grounds"]
    assert ground["code"] == "ineligible_citizenship"
    assert result["eaeu"] is False
    assert "CN" in ground["evidence"] and "UZ" in ground["evidence"]


def test_eligible_states_come_from_configuration():
    config = dict(CONFIG, ELIGIBLE_CITIZENSHIPS=["CN"])
    assert check_citizenship("CN", config)["ok"] is True
    assert check_citizenship("UZ", config)["ok"] is False


def test_eaeu_membership_wins_over_a_mistaken_eligible_entry():
    config = dict(CONFIG, ELIGIBLE_CITIZENSHIPS=["UZ", "RU"])
    assert check_citizenship("RU", config)["ok"] is False


def test_missing_citizenship_is_refused():
    assert check_citizenship(None, CONFIG)["ok"] is False
