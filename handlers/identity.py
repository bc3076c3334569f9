"""The IIN (individual identification number) and the identity data it carries (docs/law.md §9).

An IIN is 12 digits: YYMMDD birth date, a century-and-sex digit (1/2 = 1800s, 3/4 = 1900s,
5/6 = 2000s; odd = male), a 4-digit serial and a check digit. An IIN that fails any of these
makes the request malformed; a birth date or sex that disagrees with the application is shown
to the officer as a possible data mismatch, never refused automatically.

Masking (logs and public documents): an IIN keeps its first 4 and last 2 digits
("9501******23": year and month of birth, not the day, the sex or the serial); a passport
number keeps its last 3 characters.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any

from engine.operators import operator

from .durations import as_date

IIN_LENGTH = 12
_FIRST_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
# Digit 7 -> (century, sex).
_CENTURY_AND_SEX = {
    "1": (1800, "male"), "2": (1800, "female"),
    "3": (1900, "male"), "4": (1900, "female"),
    "5": (2000, "male"), "6": (2000, "female"),
}
_SEX_WORDS = {"m": "male", "male": "male", "f": "female", "female": "female"}


def iin_is_valid(iin: Any) -> bool:
    """A well-formed IIN: 12 digits, a correct check digit, a real birth date and century digit."""
    return not iin_problems(iin)


def iin_problems(iin: Any, today: date | None = None) -> list[str]:
    """Every reason `iin` is not a valid IIN, in plain words; empty when it is valid.

    With `today`, a birth date after it is also a problem.
    """
    if not isinstance(iin, str):
        return [f"IIN must be a string of {IIN_LENGTH} digits"]
    problems = []
    if len(iin) != IIN_LENGTH:
        problems.append(f"IIN must have {IIN_LENGTH} digits, not {len(iin)}")
    if not (iin.isascii() and iin.isdigit()):
        problems.append("IIN must contain digits only")
    if problems:
        # Without 12 digits the other checks mean nothing.
        return problems
    expected = check_digit(iin[:11])
    if expected is None:
        problems.append("IIN check digit cannot exist for these digits (both weight sets give 10)")
    elif int(iin[11]) != expected:
        problems.append("IIN check digit is wrong")
    if iin[6] not in _CENTURY_AND_SEX:
        problems.append(f"IIN digit 7 (century and sex) must be 1 to 6, not {iin[6]}")
    else:
        born = _birth_date(iin)
        if born is None:
            problems.append(f"IIN digits 1-6 ({iin[:6]}) are not a possible birth date")
        elif today is not None and born > today:
            problems.append(f"IIN birth date {born.isoformat()} is in the future")
    return problems


def check_digit(first_eleven: str) -> int | None:
    """The 12th digit for these 11 digits, or None when both weight sets give 10 (no valid IIN)."""
    digits = [int(c) for c in first_eleven]
    if len(digits) != 11:
        raise ValueError("the check digit is computed over exactly 11 digits")
    for weights in (_FIRST_WEIGHTS, _SECOND_WEIGHTS):
        remainder = sum(d * w for d, w in zip(digits, weights)) % 11
        if remainder != 10:
            return remainder
    return None


def birth_date_from_iin(iin: str) -> date:
    """The birth date an IIN encodes; ValueError if it encodes none."""
    if not (isinstance(iin, str) and len(iin) == IIN_LENGTH and iin.isascii() and iin.isdigit()):
        raise ValueError("not an IIN of 12 digits")
    if iin[6] not in _CENTURY_AND_SEX:
        raise ValueError(f"IIN digit 7 (century and sex) must be 1 to 6, not {iin[6]}")
    born = _birth_date(iin)
    if born is None:
        raise ValueError(f"IIN digits 1-6 ({iin[:6]}) are not a possible birth date")
    return born


def sex_from_iin(iin: str) -> str:
    """The sex an IIN encodes, "male" or "female": digit 7, odd = male."""
    if not (isinstance(iin, str) and len(iin) == IIN_LENGTH) or iin[6] not in _CENTURY_AND_SEX:
        raise ValueError("IIN digit 7 (century and sex) must be 1 to 6")
    return _CENTURY_AND_SEX[iin[6]][1]


def compare_identity(application: dict) -> dict:
    """Compare the birth date and sex an IIN encodes with those stated in the application.

    `application` holds `iin`, `birth_date` (date or ISO string) and optionally `sex`
    ("male"/"female", or "M"/"F"). The result lists each compared field with both values;
    a difference is for the officer to judge (a possible `data_mismatch`), not a refusal.
    """
    iin = application["iin"]
    fields = {"birth_date": _compare(birth_date_from_iin(iin).isoformat(),
                                     _iso_or_none(application.get("birth_date")))}
    if application.get("sex") not in (None, ""):
        fields["sex"] = _compare(sex_from_iin(iin), _sex_word(application["sex"]))
    differing = [name for name, field in fields.items() if not field["matches"]]
    return {"iin_masked": mask_iin(iin), "matches": not differing, "differing": differing,
            "fields": fields}


@operator("identity.compare")
def compare(ctx, application: dict) -> dict:
    """`identity.compare`: what the IIN says against what the application says, for the officer."""
    return compare_identity(application)


def mask_iin(iin: Any) -> str:
    """The IIN for logs and public documents: first 4 and last 2 digits, e.g. "9501******23"."""
    if iin is None:
        return ""
    text = str(iin)
    if len(text) != IIN_LENGTH:
        # Something malformed may still be personal data: hide all of it.
        return "*" * len(text)
    return text[:4] + "*" * 6 + text[-2:]


def mask_passport(number: Any) -> str:
    """A passport number for logs and public documents: only the last 3 characters shown."""
    if number is None:
        return ""
    text = str(number)
    if len(text) <= 5:
        return "*" * len(text)
    return "*" * (len(text) - 3) + text[-3:]


# Bidirectional embeddings, overrides and isolates, and zero-width characters: they make a name
# read differently from what it is (U+202E turns "Karimov" into something else on the page).
DECEPTIVE_CHARACTERS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                                 "\u200b\u200c\u200d\ufeff")


def deceptive_characters(text: str) -> list[str]:
    """The invisible direction and zero-width characters in a text, as "U+202E" codes."""
    return sorted({f"U+{ord(c):04X}" for c in text if c in DECEPTIVE_CHARACTERS})


# A 12-digit run not inside a longer number (an IIN or something shaped like one).
_IIN_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
# Passport numbers as the service meets them: one or two capital letters and 6 to 9 digits.
# (also right after a percent-escape: "q%3DFA1234567" in a logged URL).
_PASSPORT_IN_TEXT = re.compile(r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2}))[A-Z]{1,2}[0-9]{6,9}(?![A-Za-z0-9])")
# A named field whose whole value is personal data, in a query string or a key=value line.
_PERSONAL_FIELD = re.compile(r"(?i)\b(passport(?:_no|_number)?|[a-z_]*iin)=([^&\s\"']+)")


def mask_personal_data(text: str) -> str:
    """Every IIN and passport number in a text (a log line, a URL) masked as mask_iin and
    mask_passport do; the values of passport and IIN query fields masked whatever their shape."""
    text = _PERSONAL_FIELD.sub(lambda m: f"{m.group(1)}={_mask_field(m.group(1), m.group(2))}", text)
    text = _IIN_IN_TEXT.sub(lambda m: mask_iin(m.group(0)), text)
    return _PASSPORT_IN_TEXT.sub(lambda m: mask_passport(m.group(0)), text)


def _mask_field(name: str, value: str) -> str:
    if name.lower().startswith("passport"):
        return mask_passport(value)
    return mask_iin(value)


def _birth_date(iin: str) -> date | None:
    century = _CENTURY_AND_SEX[iin[6]][0]
    try:
        return date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError:
        return None


def _compare(from_iin: str, from_application: str | None) -> dict:
    return {"from_iin": from_iin, "from_application": from_application,
            "matches": from_application is not None and from_iin == from_application}


def _iso_or_none(value: Any) -> str | None:
    if value in (None, ""):
        return None
    return as_date(value).isoformat()


def _sex_word(value: Any) -> str:
    word = _SEX_WORDS.get(str(value).strip().lower())
    if word is None:
        raise ValueError(f"sex must be male or female (M/F), not {value!r}")
    return word


_IIN_KEYS = frozenset({"iin", "payer_iin", "holder_iin", "applicant_iin", "employer_iin"})
_PASSPORT_KEYS = frozenset({"passport_no", "passport_number"})


def _mask_in_audit(path: tuple, value: Any) -> Any:
    """IINs and passport numbers in an operator's data edit reach the audit log masked."""
    key = path[-1] if path else None
    if key in _IIN_KEYS and value is not None:
        return mask_iin(value)
    if (key in _PASSPORT_KEYS or (key == "number" and "documents" in path)) and value is not None:
        return mask_passport(value)
    if isinstance(value, str) and value.isdigit() and len(value) == IIN_LENGTH:
        return mask_iin(value)  # an IIN under any other name
    return value


def _register_audit_mask() -> None:
    from engine import edits
    edits.register_mask(_mask_in_audit)


_register_audit_mask()
