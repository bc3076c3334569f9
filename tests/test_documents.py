"""Acceptance of documents for issue and extension (docs/law.md §2, §3)."""
import json
from datetime import date

import pytest

from handlers.documents import (
    DOCUMENT_TYPES, LAW_REQUIRED_DOCUMENTS, check_documents, required_documents,
)

FILED = date(2026, 3, 20)


def doc(type_, number="X-1", issued_at="2025-06-01", valid_until="2027-06-01"):
    return {"type": type_, "number": number, "issued_at": issued_at, "valid_until": valid_until}


def issue_set(*leave_out):
    types = ["identity_document", "medical_certificate", "medical_insurance",
             "fingerprint_certificate", "tax_receipt"]
    return [doc(t) for t in types if t not in leave_out]


def extension_set(*leave_out):
    types = ["tax_receipt", "previous_permit", "employment_contract", "medical_insurance"]
    return [doc(t) for t in types if t not in leave_out]


def test_document_types_are_the_seven_of_the_domain():
    assert DOCUMENT_TYPES == ("identity_document", "medical_certificate", "medical_insurance",
                              "fingerprint_certificate", "tax_receipt", "employment_contract",
                              "previous_permit")


def test_complete_valid_issue_set_is_accepted():
    result = check_documents("issue", issue_set(), FILED, False)
    assert result["ok"] and result["complete"]
    assert result["missing"] == [] and result["expired"] == [] and result["grounds"] == []
    json.dumps(result)  # lands in task data


def test_issue_without_medical_certificate_is_not_accepted_as_incomplete():
    result = check_documents("issue", issue_set("medical_certificate"), FILED, False)
    assert result["ok"] is False
    assert result["complete"] is False
    assert result["missing"] == ["medical_certificate"]
    [ground] = result["grounds"]
    assert ground["code"] == "not_accepted_incomplete"
    assert ground["check"] == "documents.complete"
    assert "medical certificate" in ground["evidence"]


def test_fingerprint_certificate_is_required_from_a_first_time_applicant():
    result = check_documents("issue", issue_set("fingerprint_certificate"), FILED,
                             held_permit_last_year=False)
    assert result["missing"] == ["fingerprint_certificate"]


def test_fingerprint_certificate_is_waived_for_who_held_a_permit_last_year():
    result = check_documents("issue", issue_set("fingerprint_certificate"), FILED,
                             held_permit_last_year=True)
    assert result["ok"] is True
    assert "fingerprint_certificate" not in result["required"]


def test_extension_needs_receipt_previous_permit_contract_and_insurance():
    assert required_documents("extension") == [
        "tax_receipt", "previous_permit", "employment_contract", "medical_insurance"]
    assert check_documents("extension", extension_set(), FILED)["ok"] is True


@pytest.mark.parametrize("left_out", LAW_REQUIRED_DOCUMENTS["extension"])
def test_extension_missing_any_required_document_is_not_accepted(left_out):
    result = check_documents("extension", extension_set(left_out), FILED)
    assert result["missing"] == [left_out]
    assert [g["code"] for g in result["grounds"]] == ["not_accepted_incomplete"]


def test_extension_does_not_ask_for_identity_medical_or_fingerprint_documents():
    required = required_documents("extension")
    for type_ in ("identity_document", "medical_certificate", "fingerprint_certificate"):
        assert type_ not in required


def test_document_that_expired_the_day_before_filing_is_not_accepted():
    documents = issue_set("medical_insurance") + [
        doc("medical_insurance", number="MI-7", valid_until="2026-03-19")]
    result = check_documents("issue", documents, FILED, False)
    assert result["complete"] is True
    assert result["ok"] is False
    assert result["expired"] == [
        {"type": "medical_insurance", "number": "MI-7", "valid_until": "2026-03-19"}]
    [ground] = result["grounds"]
    assert ground["code"] == "not_accepted_expired_document"
    assert "MI-7 expired on 19.03.2026" in ground["evidence"]


def test_document_valid_until_the_filing_day_is_still_valid_that_day():
    documents = issue_set("medical_insurance") + [doc("medical_insurance", valid_until=FILED)]
    assert check_documents("issue", documents, FILED, False)["ok"] is True


def test_document_without_an_end_date_never_expires():
    documents = issue_set("tax_receipt") + [doc("tax_receipt", valid_until=None)]
    assert check_documents("issue", documents, FILED, False)["ok"] is True


def test_document_issued_after_the_filing_day_is_not_valid_on_filing():
    documents = issue_set("medical_certificate") + [
        doc("medical_certificate", number="MC-1", issued_at="2026-03-21")]
    result = check_documents("issue", documents, FILED, False)
    assert result["not_yet_valid"] == [
        {"type": "medical_certificate", "number": "MC-1", "issued_at": "2026-03-21"}]
    assert [g["code"] for g in result["grounds"]] == ["not_accepted_expired_document"]


def test_missing_and_expired_documents_are_both_grounds_of_one_receipt():
    documents = issue_set("tax_receipt", "identity_document") + [
        doc("identity_document", number="N12345678", valid_until="2026-01-01")]
    result = check_documents("issue", documents, FILED, False)
    assert [g["code"] for g in result["grounds"]] == [
        "not_accepted_incomplete", "not_accepted_expired_document"]


def test_passport_number_is_masked_in_the_evidence_printed_on_the_receipt():
    documents = issue_set("identity_document") + [
        doc("identity_document", number="N12345678", valid_until="2026-01-01")]
    ground = check_documents("issue", documents, FILED, False)["grounds"][0]
    assert "N12345678" not in ground["evidence"]
    assert "******678" in ground["evidence"]


def test_required_documents_come_from_configuration_when_set():
    config = {"REQUIRED_DOCUMENTS_ISSUE": ["identity_document", "tax_receipt"]}
    documents = [doc("identity_document"), doc("tax_receipt")]
    assert check_documents("issue", documents, FILED, False, config=config)["ok"] is True


def test_explicit_required_list_still_applies_the_fingerprint_waiver():
    result = check_documents("issue", [doc("tax_receipt")], FILED, True,
                             required=["tax_receipt", "fingerprint_certificate"])
    assert result["ok"] is True


def test_configuration_naming_an_unknown_document_type_is_an_error():
    with pytest.raises(ValueError, match="unknown document types"):
        required_documents("issue", {"REQUIRED_DOCUMENTS_ISSUE": ["visa"]})


def test_unknown_kind_or_document_type_is_an_error():
    with pytest.raises(ValueError):
        check_documents("revocation", [], FILED)
    with pytest.raises(ValueError, match="unknown document types"):
        check_documents("issue", [doc("visa")], FILED)
