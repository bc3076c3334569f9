"""The inbox and the API in Kazakh and Russian: complete catalogues, the officer's own language,
the browser's language before sign-in, problem+json in the client's language."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from engine.db import db
from tests.conftest import running_app
from tests.inbox_support import client, csrf, make_user, sign_in  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("kk", "ru")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def catalogue(language):
    with open(ROOT / "translations" / language / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=language)


def extracted_ids(tmp_path):
    """The messages of the code as it is now (pybabel extract with babel.cfg)."""
    pot = tmp_path / "now.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg", "-k", "N_",
                    "-k", "lazy_gettext", "--no-location", "-o", str(pot), "."],
                   cwd=ROOT, check=True, capture_output=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    with open(pot, "rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_the_code_has_a_kazakh_and_a_russian_translation(language, tmp_path):
    translations = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalogue(language) if m.id}
    missing = sorted(i for i in extracted_ids(tmp_path) if i not in translations)
    assert not missing, f"not in translations/{language}: run `make messages` and translate {missing[:5]}"
    untranslated = [i for i, m in translations.items()
                    if not (all(m.string) if isinstance(m.string, tuple) else m.string) or m.fuzzy]
    assert not untranslated, f"{language}: no translation (or fuzzy) for {untranslated[:5]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_translation_keeps_every_placeholder_of_its_message(language):
    for message in catalogue(language):
        if not message.id or isinstance(message.id, tuple):
            continue
        assert set(PLACEHOLDER.findall(message.string)) == set(PLACEHOLDER.findall(message.id)), message.id


def test_the_kazakh_catalogue_is_written_in_kazakh_letters():
    # A Kazakh catalogue copied from the Russian one would lack the letters only Kazakh has.
    text = " ".join(m.string for m in catalogue("kk") if isinstance(m.string, str))
    for letter in "әғқңөұүі":  # һ is rare in state texts (loanwords); the PDF glyph test covers it
        assert letter in text, letter
    russian = {m.id: m.string for m in catalogue("ru")}
    same = [m.id for m in catalogue("kk") if m.id and isinstance(m.string, str) and len(m.string) > 12
            and m.string == russian.get(m.id)]
    assert not same, same[:5]


@pytest.mark.parametrize("header, heading, label", [
    ("kk-KZ,kk;q=0.9,ru;q=0.8", "Кіру", "Пайдаланушы аты"),
    ("ru-RU,ru;q=0.9,en;q=0.5", "Войти", "Имя пользователя"),
    ("en-GB,en;q=0.9", "Sign in", "Username"),
])
def test_the_sign_in_page_follows_the_browsers_language(client, header, heading, label):
    html = client.get("/sign-in", headers={"Accept-Language": header}).get_data(as_text=True)
    assert f"<h1>{heading}</h1>" in html and label in html


def test_without_a_language_the_sign_in_page_is_in_the_configured_default_russian(migrated_database):
    for app in running_app(DEFAULT_LANGUAGE="ru"):
        html = app.test_client().get("/sign-in").get_data(as_text=True)
        assert '<html lang="ru">' in html and "<h1>Войти</h1>" in html


def test_an_officer_reads_the_inbox_in_the_language_of_the_account_and_switches_it(app, client):
    make_user("berik", language="ru", full_name="Берик Нурланов")
    sign_in(client, "berik")
    html = client.get("/inbox", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="ru">' in html and "<h1>Входящие</h1>" in html  # the account wins over the browser
    response = client.post("/language", data={"language": "kk", "csrf_token": csrf(client), "back": "/inbox"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox")
    html = client.get("/inbox").get_data(as_text=True)
    assert '<html lang="kk">' in html and "Кіріс тапсырмалар" in html
    from web.inbox import users
    db.session.expire_all()
    assert users.by_username("berik").language == "kk"


def test_an_unknown_language_is_refused_naming_the_field_and_changes_nothing(app, client):
    make_user("berik", language="ru")
    sign_in(client, "berik")
    response = client.post("/language", data={"language": "de", "csrf_token": csrf(client)})
    assert response.status_code == 400 and "language" in response.get_data(as_text=True)
    from web.inbox import users
    db.session.expire_all()
    assert users.by_username("berik").language == "ru"


def test_an_officer_without_a_language_reads_the_configured_default(migrated_database):
    for app in running_app(DEFAULT_LANGUAGE="ru"):
        from flask import g
        make_user("dana")
        client_ = app.test_client()
        g.__dict__.clear()
        page = client_.get("/sign-in").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        g.__dict__.clear()
        client_.post("/sign-in", data={"username": "dana", "password": "correct-horse-battery", "csrf_token": token})
        g.__dict__.clear()
        html = client_.get("/inbox").get_data(as_text=True)
        assert "<h1>Входящие</h1>" in html


@pytest.mark.parametrize("header, title, detail", [
    ("ru", "Требуется аутентификация", "для этой операции нужен токен доступа"),
    ("kk-KZ", "Аутентификация қажет", "бұл операция үшін қолжетімділік токені қажет"),
    (None, "Unauthorized", "this operation needs a bearer token"),
])
def test_api_problems_answer_in_the_clients_language(app, header, title, detail):
    headers = {"Accept-Language": header} if header else {}
    response = app.test_client().get("/api/v1/cases", headers=headers)
    body = response.get_json(force=True)
    assert response.status_code == 401
    assert (body["title"], body["detail"]) == (title, detail)
    assert response.headers["Content-Language"] == (header or "en")[:2]


def test_a_not_found_problem_is_translated_too(app):
    response = app.test_client().get("/api/v1/no-such-thing", headers={"Accept-Language": "ru"})
    assert response.status_code == 404 and response.get_json(force=True)["title"] == "Не найдено"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_notification_has_its_kazakh_and_russian_text(app, language):
    from handlers import notifications
    from handlers.grounds import REVOCATION_GROUNDS
    from tests.test_notifications import TEMPLATE_DATA
    TEMPLATE_DATA = dict(TEMPLATE_DATA, revoked=dict(TEMPLATE_DATA["revoked"],
                                                     ground_title=REVOCATION_GROUNDS["contract_terminated"].title))
    english = {t: notifications.render(t, TEMPLATE_DATA[t], app.config) for t in notifications.TEMPLATES}
    for template in notifications.TEMPLATES:
        subject, body = notifications.render(template, TEMPLATE_DATA[template], app.config, language)
        assert subject and body.strip() and "{{" not in subject + body, template
        assert (subject, body) != english[template], template
        assert not re.search(r"\b(the|is|your|permit)\b", subject + body, re.I), (template, subject, body)


def test_a_ground_in_a_notification_reads_in_the_recipients_language(app):
    from handlers import notifications
    from handlers.grounds import make_ground
    ground = make_ground("quota_exhausted", "quota.available", "0 of 5 units left")
    _, body = notifications.render("refused", {"case_id": "c-1", "service": "issue of a permit",
                                               "grounds": [ground]}, app.config, "kk")
    assert "Өңірдің еңбек иммигранттарына арналған квотасы таусылды: 0 of 5 units left" in body


def test_a_problem_detail_naming_a_value_is_translated_with_the_value(app):
    from tests.test_api_support import make_token
    headers = dict(make_token(), **{"Accept-Language": "kk"})
    missing = "00000000-0000-4000-8000-000000000000"
    body = app.test_client().get(f"/api/v1/cases/{missing}", headers=headers).get_json(force=True)
    assert (body["title"], body["detail"]) == ("Табылмады", f"{missing} іс табылмады")
