"""Documents handed to applicants: made once as PDF at the decision, in Kazakh and Russian, with
the deciding officer, the grounds and how to appeal, every Kazakh letter drawn by the one font
installed for it, stored with the SHA-256 the audit log records, served as stored."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from engine import audit
from engine.db import db
from handlers import documents_pdf, i18n
from handlers.grounds import REFUSAL_GROUNDS
from handlers.notifications import Notification
from tests.permit_support import (OFFICER, almaty, application, decide, deploy_procedures,
                                  file_application, load_reference, sweep)

FILED = almaty(2026, 6, 10, 10, 0)
KAZAKH_LETTERS = "әғқңөұүһі"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@pytest.fixture
def service(app):
    load_reference(app)
    deploy_procedures(app)
    from web.inbox import users
    users.create_user("aigul.officer", "correct-horse-battery", ["officer"], "AST", actor="test",
                      full_name="Айгүл Серікқызы Серікова", position="Chief specialist of the department of employment")
    return app


def refused_by_the_officer(app, body=None):
    with time_machine.travel(FILED, tick=False):
        case_id = file_application(body or application(), filed_at=FILED).id
        sweep(app)
        decide(case_id, {"data_matches": True, "decision": "refuse", "grounds": ["other"],
                         "comment": "The household is outside the region."})
    db.session.remove()
    return case_id


def pdf_text(data: bytes) -> str:
    """The text of every page, its line breaks (where the columns wrap) as plain spaces."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


def embedded_fonts(data: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            names.add(str(font.get_object()["/BaseFont"]).split("+", 1)[-1])
    return names


def test_an_officers_refusal_is_made_once_as_a_pdf_in_both_languages_with_grounds_and_appeal(service):
    case_id = refused_by_the_officer(service)
    stored = documents_pdf.stored(case_id)
    assert [d.key for d in stored] == ["motivated_refusal"]
    text = pdf_text(stored[0].pdf)
    other = REFUSAL_GROUNDS["other"]
    for language in ("kk", "ru"):
        gettext = i18n.gettext_for(language)
        assert gettext(other.title) in text
        assert gettext("How to appeal") in text
    assert "Маман көрсеткен басқа негіздеме" in text and "Иное основание, указанное специалистом" in text
    assert "Шағымдану тәртібі" in text and "Порядок обжалования" in text
    assert "Айгүл Серікқызы Серікова" in text
    assert "Жұмыспен қамту басқармасының бас маманы" in text and "Главный специалист управления занятости" in text
    assert "The household is outside the region." in text  # the officer's own words, as written


def test_no_glyph_of_the_document_falls_back_to_another_font(service):
    case_id = refused_by_the_officer(service, application(applicant__last_name="Шаһарбаев"))
    data = documents_pdf.stored(case_id)[0].pdf
    fonts = embedded_fonts(data)
    assert fonts and all(name.startswith("DejaVu") for name in fonts), fonts
    text = pdf_text(data)
    cmap = TTFont(str(DEJAVU))["cmap"].getBestCmap()
    missing = sorted({ch for ch in text if not ch.isspace() and ord(ch) not in cmap})
    assert not missing, missing
    for letter in KAZAKH_LETTERS:
        assert letter in text, letter


def test_the_sha256_of_the_stored_bytes_is_in_the_audit_log_and_the_api_serves_those_bytes(service):
    case_id = refused_by_the_officer(service)
    stored = documents_pdf.stored_one(case_id, "motivated_refusal")
    assert stored.sha256 == hashlib.sha256(stored.pdf).hexdigest()
    events = [e for e in audit.trail(case_id) if e.event == "document_issued"]
    assert [e.details["sha256"] for e in events] == [stored.sha256]
    # the stored page, made into PDF again, gives the same bytes
    assert hashlib.sha256(documents_pdf.render_pdf(stored.html)).hexdigest() == stored.sha256
    from web.api import clients
    token = clients.create("egov-portal", ["cases:read"], actor="test")[1]
    api = service.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    pdf = api.get(f"/api/v1/cases/{case_id}/documents/motivated_refusal", headers=headers)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data == stored.pdf and pdf.headers["X-Content-SHA256"] == stored.sha256
    html = api.get(f"/api/v1/cases/{case_id}/documents/motivated_refusal?format=html", headers=headers)
    assert html.mimetype == "text/html" and "Шағымдану тәртібі" in html.get_data(as_text=True)
    # The bytes are in the document store, not the row; the HTML is served as it was made: its hash
    # is the audited one, and the row keeps both hashes and sizes.
    raw = db.session.execute(sa.text("SELECT pdf, html, html_gz, html_sha256, pdf_size, html_size "
                                     "FROM case_document WHERE instance_id = :i"), {"i": case_id}).one()
    assert raw.pdf is None and raw.html is None and raw.html_gz is None
    assert hashlib.sha256(html.get_data()).hexdigest() == events[0].details["html_sha256"] == raw.html_sha256
    assert (raw.pdf_size, raw.html_size) == (len(pdf.data), len(html.get_data()))
    assert api.get(f"/api/v1/cases/{case_id}/documents/nothing", headers=headers).status_code == 404
    bad = api.get(f"/api/v1/cases/{case_id}/documents/motivated_refusal?format=doc", headers=headers)
    assert bad.status_code == 422 and "format" in bad.get_json(force=True)["errors"]


def test_an_issued_permit_is_a_pdf_signed_by_the_officer(service):
    with time_machine.travel(FILED, tick=False):
        case_id = file_application(application(), filed_at=FILED).id
        sweep(service)
        decide(case_id, {"data_matches": True, "decision": "issue"})
    db.session.remove()
    stored = documents_pdf.stored_one(case_id, "permit")
    text = pdf_text(stored.pdf)
    assert "Еңбек иммигрантына" in text and "Разрешение трудовому иммигранту" in text
    assert "01.04.2026" in text and "31.03.2027" in text
    assert "Өзбекстан" in text and "Узбекистан" in text  # citizenship by name, in each language
    assert "Айгүл Серікқызы Серікова" in text


def test_an_automatic_refusal_is_signed_as_an_automatic_decision_of_the_service(service):
    body = application(tax_payment__amount_kzt=1000)
    with time_machine.travel(FILED, tick=False):
        case_id = file_application(body, filed_at=FILED).id
        sweep(service)
    db.session.remove()
    text = pdf_text(documents_pdf.stored_one(case_id, "motivated_refusal").pdf)
    assert "автоматты шешім" in text and "автоматическое решение" in text
    assert "Информационная система государственной услуги" in text


@pytest.mark.parametrize("language, words", [
    ("kk", "бас тартты"), ("ru", "отказал"), (None, "отказал"),
])
def test_the_applicant_is_notified_in_the_language_of_the_application(service, language, words):
    body = application(language=language) if language else application()
    refused_by_the_officer(service, body)
    notes = list(db.session.execute(sa.select(Notification).filter_by(template="refused")).scalars())
    assert notes and all(words in n.body for n in notes), [n.body for n in notes]


def test_a_confirmed_revocation_is_a_decision_document_with_its_ground_in_both_languages(service):
    from tests.permit_support import file_revocation, issue_permit, open_task
    from engine import tasks as engine_tasks
    number = issue_permit(service)
    reviewer = engine_tasks.Actor("berik.officer", frozenset({"officer"}), frozenset({"AST"}))
    with time_machine.travel(almaty(2026, 7, 1, 9, 0), tick=False):
        case_id = file_revocation(number).id
    with time_machine.travel(almaty(2026, 7, 1, 11, 0), tick=False):
        task = open_task(case_id, "review")
        engine_tasks.claim(task.id, reviewer)
        engine_tasks.complete(task.id, reviewer, {"decision": "confirm", "comment": "Подделка подтверждена."})
    db.session.remove()
    text = pdf_text(documents_pdf.stored_one(case_id, "revocation_decision").pdf)
    assert f"№ {number}" in text
    assert "Рұқсат жалған немесе қолдан жасалған құжаттар бойынша алынған" in text
    assert "Разрешение получено по ложным или поддельным документам" in text
    assert "Шағымдану тәртібі" in text and "Порядок обжалования" in text
