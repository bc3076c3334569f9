"""IIN check digit, the birth date and sex it carries, and masking (docs/law.md §9)."""
from datetime import date

import pytest
from hypothesis import given, strategies as st

from handlers.identity import (
    birth_date_from_iin, check_digit, compare_identity, iin_is_valid, iin_problems, mask_iin,
    mask_passport, sex_from_iin,
)


def independent_check_digit(first_eleven):
    """The law's rule, written again here so the tests do not trust the code under test."""
    digits = [int(c) for c in first_eleven]
    first = sum(d * w for d, w in zip(digits, range(1, 12))) % 11
    if first != 10:
        return first
    second = sum(d * w for d, w in zip(digits, [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2])) % 11
    return None if second == 10 else second


def with_check_digit(first_eleven):
    digit = independent_check_digit(first_eleven)
    assert digit is not None, "test data must not be a double-10 prefix"
    return first_eleven + str(digit)


# 9·1+5·2+0·3+1·4+1·5+2·6+3·7+0·8+0·9+0·10+0·11 = 61; 61 mod 11 = 6.
MALE_BORN_12_JAN_1995 = "950112300006"
# First set: 9+10+0+4+5+12+21+0+0+70+0 = 131, mod 11 = 10 -> second set:
# 27+20+0+6+7+16+27+0+0+7+0 = 110, mod 11 = 0.
NEEDS_SECOND_WEIGHTS = "950112300700"
# First set: 131 + 5·11 = 186, mod 11 = 10; second set: 110 + 5·2 = 120, mod 11 = 10.
DOUBLE_TEN_PREFIX = "95011230075"


def test_iin_with_check_digit_from_the_first_weights_is_valid():
    assert iin_is_valid(MALE_BORN_12_JAN_1995)
    assert iin_problems(MALE_BORN_12_JAN_1995) == []


def test_iin_whose_first_sum_gives_ten_takes_its_check_digit_from_the_second_weights():
    assert check_digit(NEEDS_SECOND_WEIGHTS[:11]) == 0
    assert iin_is_valid(NEEDS_SECOND_WEIGHTS)
    # 10 from the first set is not itself a digit: no other last digit passes.
    for last in "123456789":
        assert not iin_is_valid(NEEDS_SECOND_WEIGHTS[:11] + last)


@pytest.mark.parametrize("last", "0123456789")
def test_iin_whose_both_weight_sets_give_ten_is_invalid_whatever_its_last_digit(last):
    assert check_digit(DOUBLE_TEN_PREFIX) is None
    problems = iin_problems(DOUBLE_TEN_PREFIX + last)
    assert any("both weight sets give 10" in p for p in problems)
    assert not iin_is_valid(DOUBLE_TEN_PREFIX + last)


def test_iin_with_a_wrong_check_digit_is_invalid():
    assert iin_problems("950112300007") == ["IIN check digit is wrong"]


@pytest.mark.parametrize("iin, problem", [
    ("95011230000", "12 digits, not 11"),
    ("9501123000061", "12 digits, not 13"),
    ("95O112300006", "digits only"),
    ("٩٥٠١١٢٣٠٠٠٠٦", "digits only"),  # Arabic-Indic digits pass str.isdigit()
    ("", "12 digits, not 0"),
])
def test_malformed_iin_is_invalid_with_the_reason(iin, problem):
    assert not iin_is_valid(iin)
    assert any(problem in p for p in iin_problems(iin))


def test_non_string_iin_is_invalid():
    assert not iin_is_valid(950112300006)
    assert not iin_is_valid(None)


def test_iin_with_an_impossible_birth_date_is_invalid():
    iin = with_check_digit("95023130000")  # 31 February 1995
    assert iin_problems(iin) == ["IIN digits 1-6 (950231) are not a possible birth date"]
    with pytest.raises(ValueError):
        birth_date_from_iin(iin)


def test_29_february_is_a_birth_date_only_in_a_leap_year():
    assert iin_is_valid(with_check_digit("96022930000"))
    assert not iin_is_valid(with_check_digit("95022930000"))


@pytest.mark.parametrize("digit", "0789")
def test_iin_with_a_century_digit_outside_1_to_6_is_invalid(digit):
    iin = with_check_digit(f"950112{digit}0000")
    assert iin_problems(iin) == [f"IIN digit 7 (century and sex) must be 1 to 6, not {digit}"]


def test_birth_date_after_today_is_a_problem_when_today_is_known():
    iin = with_check_digit("30011250000")  # 12 January 2030
    assert iin_problems(iin) == []
    assert iin_problems(iin, today=date(2026, 3, 20)) == [
        "IIN birth date 2030-01-12 is in the future"]


@pytest.mark.parametrize("digit, born, sex", [
    ("1", date(1895, 1, 12), "male"), ("2", date(1895, 1, 12), "female"),
    ("3", date(1995, 1, 12), "male"), ("4", date(1995, 1, 12), "female"),
    ("5", date(2095, 1, 12), "male"), ("6", date(2095, 1, 12), "female"),
])
def test_digit_seven_gives_the_century_and_odd_means_male(digit, born, sex):
    iin = with_check_digit(f"950112{digit}0000")
    assert birth_date_from_iin(iin) == born
    assert sex_from_iin(iin) == sex


def test_identity_matching_the_iin_shows_both_values_and_matches():
    result = compare_identity({"iin": MALE_BORN_12_JAN_1995, "birth_date": "1995-01-12",
                               "sex": "male"})
    assert result == {
        "iin_masked": "9501******06",
        "matches": True,
        "differing": [],
        "fields": {
            "birth_date": {"from_iin": "1995-01-12", "from_application": "1995-01-12",
                           "matches": True},
            "sex": {"from_iin": "male", "from_application": "male", "matches": True},
        },
    }


def test_birth_date_differing_from_the_iin_is_shown_to_the_officer_not_refused():
    result = compare_identity({"iin": MALE_BORN_12_JAN_1995, "birth_date": date(1995, 1, 21)})
    assert result["matches"] is False
    assert result["differing"] == ["birth_date"]
    assert result["fields"]["birth_date"] == {
        "from_iin": "1995-01-12", "from_application": "1995-01-21", "matches": False}
    assert "grounds" not in result
    assert "sex" not in result["fields"]


def test_sex_differing_from_the_iin_is_shown_and_letters_are_understood():
    result = compare_identity({"iin": MALE_BORN_12_JAN_1995, "birth_date": "1995-01-12",
                               "sex": "F"})
    assert result["differing"] == ["sex"]
    assert result["fields"]["sex"] == {"from_iin": "male", "from_application": "female",
                                       "matches": False}


def test_application_without_a_birth_date_does_not_match():
    result = compare_identity({"iin": MALE_BORN_12_JAN_1995})
    assert result["fields"]["birth_date"]["from_application"] is None
    assert result["matches"] is False


def test_iin_is_masked_keeping_the_first_four_and_last_two_digits():
    assert mask_iin(MALE_BORN_12_JAN_1995) == "9501******06"


def test_malformed_iin_is_masked_completely():
    assert mask_iin("95011230") == "********"
    assert mask_iin(None) == ""


def test_passport_number_is_masked_but_its_last_three_characters():
    assert mask_passport("N12345678") == "******678"
    assert mask_passport("AB12") == "****"
    assert mask_passport(None) == ""


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_check_digit_agrees_with_the_independent_rule(first_eleven):
    assert check_digit(first_eleven) == independent_check_digit(first_eleven)
    expected = independent_check_digit(first_eleven)
    if expected is not None:
        wrong = str((expected + 1) % 10)
        assert "IIN check digit is wrong" in iin_problems(first_eleven + wrong)
        assert "IIN check digit is wrong" not in iin_problems(first_eleven + str(expected))
