"""The receipt refusing acceptance (appendix 3), the motivated refusal (appendix 4), and the
grounds they carry (docs/law.md §7, §8)."""
import pytest
from markupsafe import escape

from handlers.titles import CHECKS
from handlers.decision_documents import render_motivated_refusal, render_not_accepted_receipt
from handlers.documents import check_documents
from handlers.grounds import (
    NOT_ACCEPTED_GROUND_CODES, REFUSAL_GROUNDS, REFUSAL_GROUND_CODES, REVOCATION_GROUND_CODES,
    is_not_accepted, make_ground,
)
from handlers.tax import check_tax, default_tables

CONFIG = {"REGIONS": {"ALA": "Almaty", "TUR": "Turkistan"}, "DOCUMENT_LANGUAGES": ["en"]}
IIN = "950112300006"


def case(grounds, **overrides):
    return {"case_id": "C-2026-0001", "kind": "issue", "region": "TUR", "channel": "egov",
            "filed_on": "2026-03-20", "date": "2026-03-24",
            "applicant": {"name": "Aziz Karimov", "iin": IIN}, "grounds": grounds,
            **overrides}


def merit_grounds():
    return [
        make_ground("ineligible_citizenship", "eligibility.citizenship",
                    "The applicant is a citizen of CN."),
        check_tax({"receipt_no": "R-9", "amount_kzt": 100_000, "paid_at": "2026-03-18",
                   "payer_iin": IIN}, IIN, 2026, 12, "TUR", default_tables(["TUR"]))["grounds"][0],
        make_ground("police_no_answer", "police.answer",
                    "No answer from IS MP by the end of 23.03.2026."),
    ]


def acceptance_grounds():
    documents = [{"type": "identity_document", "number": "N12345678", "issued_at": "2020-01-01",
                  "valid_until": "2026-01-01"}]
    return check_documents("issue", documents, "2026-03-20", False)["grounds"]


# --- grounds ---

def test_refusal_grounds_are_those_of_the_domain():
    assert REFUSAL_GROUND_CODES == (
        "not_accepted_incomplete", "not_accepted_expired_document", "data_mismatch",
        "tax_underpaid", "quota_exhausted", "police_objection", "police_no_answer",
        "ineligible_citizenship", "permit_not_active", "employer_consent_missing",
        "contract_not_registered", "stay_limit_exceeded", "other")


def test_only_incomplete_and_expired_documents_end_with_a_receipt():
    assert NOT_ACCEPTED_GROUND_CODES == ("not_accepted_incomplete", "not_accepted_expired_document")
    assert is_not_accepted("not_accepted_incomplete") and not is_not_accepted("tax_underpaid")


def test_revocation_grounds_are_those_of_the_domain():
    assert REVOCATION_GROUND_CODES == (
        "contract_terminated", "false_documents", "tax_violation", "entry_ban_or_expulsion",
        "works_for_legal_entity", "court_decision", "death_or_departure", "other")


def test_every_refusal_ground_names_its_legal_basis_in_words():
    for ground in REFUSAL_GROUNDS.values():
        assert ground.title
        assert "Rules" in ground.legal_basis or "Law" in ground.legal_basis


def test_a_ground_carries_the_failed_check_its_evidence_and_legal_basis():
    ground = make_ground("quota_exhausted", "quota.reserve", "Turkistan: 500 of 500 used.",
                         quota=500)
    assert ground == {"code": "quota_exhausted", "title": REFUSAL_GROUNDS["quota_exhausted"].title,
                      "check": "quota.reserve", "evidence": "Turkistan: 500 of 500 used.",
                      "legal_basis": REFUSAL_GROUNDS["quota_exhausted"].legal_basis,
                      "quota": 500}


def test_a_ground_needs_a_known_code_a_check_and_evidence():
    with pytest.raises(ValueError):
        make_ground("bad_mood", "officer", "no reason")
    with pytest.raises(ValueError):
        make_ground("other", "officer.decision", "")
    with pytest.raises(ValueError):
        make_ground("other", "officer.decision", "text", legal_basis="made up")


# --- appendix 3: receipt refusing acceptance ---

def test_receipt_names_the_provider_applicant_date_and_every_ground():
    grounds = check_documents("issue", [], "2026-03-20", False)["grounds"] + acceptance_grounds()[1:]
    html = render_not_accepted_receipt(case(grounds), CONFIG)
    assert "Appendix 3" in html
    assert "Local executive body of Turkistan" in html
    assert "Aziz Karimov" in html
    assert "24.03.2026" in html and "filed on 20.03.2026" in html
    assert "e-government portal" in html
    for ground in grounds:
        assert f'data-code="{ground["code"]}"' in html
        assert escape(CHECKS[ground["check"]]) in html  # the check by its title, not its code
        assert escape(ground["evidence"]) in html
        assert escape(ground["legal_basis"]) in html


def test_receipt_shows_missing_and_expired_documents_as_evidence():
    documents = [{"type": "identity_document", "number": "N12345678", "issued_at": "2020-01-01",
                  "valid_until": "2026-01-01"}]
    grounds = check_documents("issue", documents, "2026-03-20", False)["grounds"]
    html = render_not_accepted_receipt(case(grounds), CONFIG)
    assert "medical certificate" in html
    assert "expired on 01.01.2026" in html
    assert "N12345678" not in html


def test_receipt_says_the_applicant_may_apply_again_and_how_to_appeal():
    html = render_not_accepted_receipt(case(acceptance_grounds()), CONFIG)
    assert "apply again" in html
    assert "How to appeal" in html and "Administrative Procedural and Process Code" in html
    assert "court" in html


def test_receipt_masks_the_iin():
    html = render_not_accepted_receipt(case(acceptance_grounds()), CONFIG)
    assert IIN not in html
    assert "9501******06" in html


def test_applicant_named_like_a_script_is_shown_as_text():
    hostile = case(acceptance_grounds(), applicant={"name": "<script>alert(1)</script>", "iin": IIN})
    html = render_not_accepted_receipt(hostile, CONFIG)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = render_motivated_refusal(dict(hostile, grounds=merit_grounds()), CONFIG)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_evidence_with_markup_is_escaped():
    grounds = [make_ground("other", "officer.decision", 'Stated employer <b onclick="x">Ltd</b>')]
    html = render_motivated_refusal(case(grounds), CONFIG)
    assert "<b onclick" not in html and "&lt;b onclick=&#34;x&#34;&gt;" in html


def test_receipt_refuses_grounds_on_the_merits():
    with pytest.raises(ValueError, match="do not belong on a receipt"):
        render_not_accepted_receipt(case(merit_grounds()), CONFIG)


# --- appendix 4: motivated refusal ---

def test_motivated_refusal_lists_every_ground_with_check_evidence_and_legal_basis():
    grounds = merit_grounds()
    html = render_motivated_refusal(case(grounds, officer="D. Seitkali"), CONFIG)
    assert "Appendix 4" in html and "Motivated refusal" in html
    assert html.count('class="ground"') == 3
    for ground in grounds:
        assert f'data-code="{ground["code"]}"' in html
        assert escape(ground["title"]) in html
        assert escape(ground["evidence"]) in html
        assert escape(CHECKS[ground["check"]]) in html  # the check by its title, not its code
        assert escape(ground["legal_basis"]) in html
    assert "Short by 107 600 KZT" in html
    assert 'Decided by: <span class="signer">D. Seitkali</span>' in html


def test_motivated_refusal_names_the_service_provider_and_appeal():
    html = render_motivated_refusal(case(merit_grounds(), kind="extension", region="ALA"), CONFIG)
    assert "Local executive body of Almaty, department of employment of the population" in html
    assert "extension of a permit to a labour immigrant" in html
    assert "learned of this decision" in html
    assert "9501******06" in html and IIN not in html


def test_motivated_refusal_refuses_acceptance_grounds():
    with pytest.raises(ValueError, match="do not belong on a motivated refusal"):
        render_motivated_refusal(case(acceptance_grounds()), CONFIG)


def test_a_refusal_without_grounds_is_not_rendered():
    with pytest.raises(ValueError, match="at least one ground"):
        render_motivated_refusal(case([]), CONFIG)


def test_unknown_region_is_an_error():
    with pytest.raises(ValueError, match="unknown region"):
        render_motivated_refusal(case(merit_grounds(), region="XXX"), CONFIG)


def test_ground_stored_without_title_takes_it_from_the_registry():
    ground = {"code": "quota_exhausted", "check": "quota.reserve", "evidence": "500 of 500"}
    html = render_motivated_refusal(case([ground]), CONFIG)
    assert escape(REFUSAL_GROUNDS["quota_exhausted"].title) in html
    assert escape(REFUSAL_GROUNDS["quota_exhausted"].legal_basis) in html
