"""A ground's evidence said again in Kazakh and Russian from the figures its check stored."""
from handlers import evidence
from handlers.grounds import make_ground


def plain(text):
    return text.replace("\u00a0", " ") if text else text


def test_a_tax_shortfall_is_told_with_its_figures_in_each_language():
    ground = make_ground("tax_underpaid", "tax.amount", "Short by 102 800 KZT.",
                         due_kzt=103_800, paid_kzt=1_000, shortfall_kzt=102_800)
    assert plain(evidence.localised(ground, "ru")) == (
        "Уплачено 1 000 тенге, за запрошенный период требуется 103 800 тенге; недостает 102 800 тенге.")
    assert plain(evidence.localised(ground, "kk")) == (
        "1 000 теңге төленген, сұралған кезең үшін 103 800 теңге қажет; 102 800 теңге жетпейді.")


def test_missing_and_expired_documents_are_named_by_their_titles():
    missing = make_ground("not_accepted_incomplete", "documents.complete", "Missing ...",
                          missing=["medical_certificate", "tax_receipt"])
    assert evidence.localised(missing, "ru") == (
        "Не представлены: медицинская справка (об отсутствии заболеваний, препятствующих въезду), "
        "квитанция о предоплате индивидуального подоходного налога.")
    expired = make_ground("not_accepted_expired_document", "documents.valid_on_filing_date", "Not valid ...",
                          expired_types=["medical_insurance"], not_yet_valid_types=[])
    assert evidence.localised(expired, "kk") == "Берілген күні жарамсыз: қолданылу мерзімі өткен: медициналық сақтандыру."


def test_a_citizenship_is_named_as_a_country_and_the_quota_with_its_numbers():
    eaeu = make_ground("ineligible_citizenship", "eligibility.citizenship", "...", citizenship="KG", eaeu=True)
    assert "Кыргызстан" in evidence.localised(eaeu, "ru") and "Қырғызстан" in evidence.localised(eaeu, "kk")
    quota = make_ground("quota_exhausted", "quota.available", "...", region="AST", year=2026, quota_units=5, used=5)
    assert evidence.localised(quota, "ru") == "Квота на 2026 год — 5 разрешений, и все 5 использованы."


def test_without_its_figures_or_in_english_the_evidence_stays_as_the_check_wrote_it():
    assert evidence.localised(make_ground("police_objection", "police.answer", "objected: entry ban"), "ru") is None
    assert evidence.localised(make_ground("tax_underpaid", "tax.amount", "Short", due_kzt=2, paid_kzt=1,
                                          shortfall_kzt=1), "en") is None
