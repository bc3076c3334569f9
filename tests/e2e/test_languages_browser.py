"""A Russian-speaking and a Kazakh-speaking officer, each in a browser set to the language: sign
in, take a case, decide it and read its PDF; and the inbox at a phone's width (375 px)."""
from __future__ import annotations

import io

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture fails these tests with the reason
    expect = None

from engine.db import db
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"
POSITION = "Chief specialist of the department of employment"


@pytest.fixture(scope="module")
def officers_and_cases(live_app):
    """berik reads Russian, aigerim Kazakh; three cases of the real procedure wait for them."""
    from engine import clock, definitions, scheduler
    from handlers import police
    from handlers import demo
    from web.inbox import users
    users.create_user("berik", PASSWORD, ["officer"], "AST", actor="test", full_name="Берик Нурланович Нурланов",
                      position=POSITION, language="ru")
    users.create_user("aigerim", PASSWORD, ["officer"], "AST", actor="test", full_name="Әйгерім Қайратқызы Жұмабекова",
                      position=POSITION, language="kk")
    definitions.deploy_directory(ROOT / "processes", live_app.config, actor="test")
    demo.load_reference_data(live_app.config)
    numbers = {}
    for number, person in (("E2E-RU-1", ("Rakhimov", "Farrukh", "880312", "3", "UZ")),
                           ("E2E-KK-1", ("Nazarov", "Jamshid", "900101", "3", "TJ")),
                           ("E2E-PHONE-1", ("Aliev", "Rashid", "870707", "3", "AZ"))):
        numbers[number] = demo.open_demo_case(number, "AST", person).id
    scheduler.run_jobs()  # the checks and the police request, as a worker runs them after a filing
    police.deliver_due_replies(clock.now())
    db.session.remove()
    return numbers


def browser_page(chromium, server, locale, width=1280, height=900):
    context = chromium.new_context(viewport={"width": width, "height": height}, base_url=server, locale=locale)
    context.set_default_timeout(10_000)
    return context, context.new_page()


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).split())


def sign_in(page, username, labels):
    user_label, password_label, button = labels
    page.goto("/sign-in")
    page.get_by_label(user_label).fill(username)
    page.get_by_label(password_label).fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    page.wait_for_url("**/inbox")


def test_a_russian_speaking_officer_refuses_a_case_and_reads_the_refusal_in_both_languages(
        chromium, server, officers_and_cases):
    context, page = browser_page(chromium, server, "ru-RU")
    try:
        page.goto("/sign-in")
        expect(page.get_by_role("heading", level=1)).to_have_text("Войти")  # the browser's language
        sign_in(page, "berik", ("Имя пользователя", "Пароль", "Войти"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Входящие")
        row = page.get_by_role("row").filter(has_text="E2E-RU-1")
        expect(row).to_contain_text("Принять решение о разрешении")
        row.get_by_role("button", name="Взять").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Принять решение о разрешении")
        expect(page.get_by_text("Вы взяли задачу")).to_be_visible()
        expect(page.locator("main")).to_contain_text("Узбекистан")  # the citizenship by name

        page.get_by_label("Отказать", exact=True).check()
        page.get_by_role("button", name="Завершить задачу").click()
        expect(page.locator('[data-field="grounds"] .error')).to_contain_text("выберите хотя бы одно основание отказа")
        page.get_by_label("Заявление совпадает с документом").check()
        page.get_by_label("Иное основание (поясните в комментарии)").check()
        page.get_by_label("Комментарий (причины, понятные заявителю)").fill("Работодатель проживает вне региона.")
        page.get_by_role("button", name="Завершить задачу").click()
        page.wait_for_url("**/tasks/*")  # another case waits: its task opens next (issue 21)
        expect(page.get_by_role("status")).to_contain_text("выполнена")
        expect(page.get_by_role("status")).to_contain_text("Следующая:")

        page.goto(f"/cases/{officers_and_cases['E2E-RU-1']}")
        expect(page.locator("#case-outcome")).to_have_text("Отказано")
        expect(page.locator("#outcome-h ~ p")).to_contain_text("Берик Нурланович Нурланов, Главный специалист")
        pdf_link = page.locator("a.document-pdf")
        expect(pdf_link).to_be_visible()
        response = page.request.get(pdf_link.get_attribute("href"))
        assert response.ok and response.headers["content-type"] == "application/pdf"
        text = pdf_text(response.body())
        assert "Мотивированный отказ" in text and "дәлелді бас тарту" in text
        assert "Иное основание, указанное специалистом" in text and "Маман көрсеткен басқа негіздеме" in text
        assert "Порядок обжалования" in text and "Шағымдану тәртібі" in text
        assert "Берик Нурланович Нурланов" in text
    finally:
        context.close()


def test_a_kazakh_speaking_officer_issues_the_permit_and_reads_it_in_both_languages(
        chromium, server, officers_and_cases):
    context, page = browser_page(chromium, server, "kk-KZ")
    try:
        page.goto("/sign-in")
        expect(page.get_by_role("heading", level=1)).to_have_text("Кіру")
        sign_in(page, "aigerim", ("Пайдаланушы аты", "Құпиясөз", "Кіру"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Кіріс тапсырмалар")
        row = page.get_by_role("row").filter(has_text="E2E-KK-1")
        row.get_by_role("button", name="Алу").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Рұқсат туралы шешім қабылдау")
        expect(page.locator("main")).to_contain_text("Тәжікстан")

        page.get_by_label("Өтініш жеке басын куәландыратын құжатпен").check()
        page.get_by_label("Рұқсат беру", exact=True).check()
        page.get_by_role("button", name="Тапсырманы аяқтау").click()
        page.wait_for_url("**/tasks/*")  # another case waits: its task opens next (issue 21)
        expect(page.get_by_role("status")).to_contain_text("орындалды")
        expect(page.get_by_role("status")).to_contain_text("Келесі:")

        page.goto(f"/cases/{officers_and_cases['E2E-KK-1']}")
        expect(page.locator("#case-outcome")).to_have_text("Рұқсат берілді")
        response = page.request.get(page.locator("a.document-pdf").get_attribute("href"))
        text = pdf_text(response.body())
        assert "Еңбек иммигрантына" in text and "Разрешение трудовому иммигранту" in text
        assert "Тәжікстан" in text and "Таджикистан" in text
        assert "Әйгерім Қайратқызы Жұмабекова" in text

        # The switch in the header: the same page in Russian, kept on the account.
        page.get_by_role("button", name="Русский").click()
        expect(page.locator("#case-outcome")).to_have_text("Разрешение выдано")
        page.goto("/inbox")
        expect(page.get_by_role("heading", level=1)).to_have_text("Входящие")
    finally:
        context.close()


def no_horizontal_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{page.url} is {width}px wide at a 375px screen"


def test_the_queue_task_and_case_pages_are_usable_at_a_phones_width(chromium, server, officers_and_cases):
    context, page = browser_page(chromium, server, "ru-RU", width=375, height=812)
    try:
        sign_in(page, "berik", ("Имя пользователя", "Пароль", "Войти"))
        no_horizontal_scroll(page)
        row = page.get_by_role("row").filter(has_text="E2E-PHONE-1")
        take = row.get_by_role("button", name="Взять")
        take.scroll_into_view_if_needed()
        expect(take).to_be_in_viewport()
        box = take.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375, box
        for label in ("Срок", "Осталось", "Исполнитель"):  # the columns once off-screen, labelled
            expect(row.locator(f'td[data-label="{label}"]')).to_be_visible()
        take.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Принять решение о разрешении")
        no_horizontal_scroll(page)
        page.get_by_role("link", name="К форме решения").click()
        complete = page.get_by_role("button", name="Завершить задачу")
        complete.scroll_into_view_if_needed()
        expect(complete).to_be_in_viewport()
        page.goto(f"/cases/{officers_and_cases['E2E-PHONE-1']}")
        no_horizontal_scroll(page)
        expect(page.locator("#case-status")).to_be_in_viewport()
    finally:
        context.close()
