"""Acceptance of the documents: is the set complete, and is every document valid on filing day?

An incomplete set or a document not valid on the day of filing is a refusal to accept (a
receipt, appendix 3), not a decision on the merits (docs/law.md §2). The required sets come
from configuration (`REQUIRED_DOCUMENTS_ISSUE`, `REQUIRED_DOCUMENTS_EXTENSION`); without
those keys, the law's lists below apply. The application itself is the request, so it is
never in the list.

A document is expired when its `valid_until` is before the filing date (it is valid through
its last day) and not yet valid when its `issued_at` is after the filing date. Every
submitted document is checked, required or not: handing in an expired document is a defect
even if another copy is valid.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Iterable, Mapping

from engine.operators import operator

from . import permits
from .durations import as_date
from .grounds import make_ground
from .identity import mask_passport

DOCUMENT_TYPES = (
    "identity_document",
    "medical_certificate",
    "medical_insurance",
    "fingerprint_certificate",
    "tax_receipt",
    "employment_contract",
    "previous_permit",
)
KINDS = ("issue", "extension")
DOCUMENT_TITLES = {
    "identity_document": "identity document with the border-crossing mark",
    "medical_certificate": "medical certificate (no diseases barring entry)",
    "medical_insurance": "medical insurance",
    "fingerprint_certificate": "fingerprinting and photographing certificate",
    "tax_receipt": "receipt of the individual income tax prepayment",
    "employment_contract": "employment contract",
    "previous_permit": "the permit being extended",
}

# The law's lists (docs/law.md §2, §3); configuration may replace them.
LAW_REQUIRED_DOCUMENTS = {
    "issue": ("identity_document", "medical_certificate", "medical_insurance",
              "fingerprint_certificate", "tax_receipt"),
    "extension": ("tax_receipt", "previous_permit", "employment_contract", "medical_insurance"),
}
_CONFIG_KEYS = {"issue": "REQUIRED_DOCUMENTS_ISSUE", "extension": "REQUIRED_DOCUMENTS_EXTENSION"}
# Not required from someone who held a permit issued in the previous calendar year [law].
FINGERPRINT_WAIVED_TYPE = "fingerprint_certificate"


def required_documents(kind: str, config: Mapping[str, Any] | None = None,
                       held_permit_last_year: bool = False) -> list[str]:
    """The document types an application of this kind must include."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    config = config or {}
    required = list(config.get(_CONFIG_KEYS[kind], LAW_REQUIRED_DOCUMENTS[kind]))
    unknown = [t for t in required if t not in DOCUMENT_TYPES]
    if unknown:
        raise ValueError(f"{_CONFIG_KEYS[kind]} names unknown document types {unknown}")
    if held_permit_last_year:
        required = [t for t in required if t != FINGERPRINT_WAIVED_TYPE]
    return required


def check_documents(kind: str, documents: Iterable[Mapping[str, Any]], filing_date: date,
                    held_permit_last_year: bool = False, *,
                    required: Iterable[str] | None = None,
                    config: Mapping[str, Any] | None = None) -> dict:
    """Check a set of documents for acceptance.

    `documents` items hold `type`, `number`, `issued_at` and `valid_until` (None when the
    document has no end date); dates as `date` or ISO strings. `required` overrides the set
    from `config`; the fingerprint waiver applies either way.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    filing_date = as_date(filing_date)
    if required is None:
        required = required_documents(kind, config, held_permit_last_year)
    else:
        required = [t for t in required
                    if not (held_permit_last_year and t == FINGERPRINT_WAIVED_TYPE)]
    documents = list(documents)
    unknown = sorted({d.get("type") for d in documents} - set(DOCUMENT_TYPES), key=str)
    if unknown:
        raise ValueError(f"unknown document types {unknown}")

    present = {d["type"] for d in documents}
    missing = [t for t in required if t not in present]
    expired, not_yet_valid = [], []
    for document in documents:
        valid_until = _date_or_none(document.get("valid_until"))
        issued_at = _date_or_none(document.get("issued_at"))
        if valid_until is not None and valid_until < filing_date:
            expired.append({"type": document["type"], "number": document.get("number"),
                            "valid_until": valid_until.isoformat()})
        if issued_at is not None and issued_at > filing_date:
            not_yet_valid.append({"type": document["type"], "number": document.get("number"),
                                  "issued_at": issued_at.isoformat()})

    grounds = []
    if missing:
        grounds.append(make_ground(
            "not_accepted_incomplete", "documents.complete",
            f"Missing from the {kind} application: "
            f"{', '.join(document_title(t) for t in missing)}.",
            missing=missing))
    if expired or not_yet_valid:
        defects = [f"{_named(d)} expired on {_dmy(d['valid_until'])}" for d in expired]
        defects += [f"{_named(d)} was issued on {_dmy(d['issued_at'])}, after the day of filing"
                    for d in not_yet_valid]
        grounds.append(make_ground(
            "not_accepted_expired_document", "documents.valid_on_filing_date",
            f"Not valid on the day of filing, {_dmy(filing_date)}: {'; '.join(defects)}.",
            expired_types=[d["type"] for d in expired],
            not_yet_valid_types=[d["type"] for d in not_yet_valid]))
    return {
        "kind": kind,
        "filing_date": filing_date.isoformat(),
        "required": required,
        "complete": not missing,
        "missing": missing,
        "expired": expired,
        "not_yet_valid": not_yet_valid,
        "ok": not grounds,
        "grounds": grounds,
    }


@operator("documents.check")
def check(ctx, kind: str, documents: list, filing_date: Any, applicant_iin: str | None = None,
          held_permit_last_year: bool | None = None) -> dict:
    """`documents.check`: acceptance of the set, with the required lists from configuration.

    Whether the applicant held a permit issued in the previous calendar year (no fingerprint
    certificate needed) is read from the register by `applicant_iin` unless given.
    """
    if held_permit_last_year is None:
        held_permit_last_year = bool(applicant_iin) and permits.held_permit_issued_in(
            applicant_iin, as_date(filing_date).year - 1, session=ctx.session)
    result = check_documents(kind, documents, filing_date, held_permit_last_year, config=ctx.config)
    return {**result, "held_permit_last_year": held_permit_last_year}


def document_title(document_type: str) -> str:
    """A document type in plain words, for receipts and messages."""
    return DOCUMENT_TITLES[document_type]


def _named(document: Mapping[str, Any]) -> str:
    # Evidence is printed on the receipt: the passport number is personal data, so masked.
    number = document.get("number")
    if not number:
        return document_title(document["type"])
    if document["type"] == "identity_document":
        number = mask_passport(number)
    return f"{document_title(document['type'])} No. {number}"


def _date_or_none(value: Any) -> date | None:
    return None if value in (None, "") else as_date(value)


def _dmy(value: Any) -> str:
    return as_date(value).strftime("%d.%m.%Y")
