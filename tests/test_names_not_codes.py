"""No page an officer uses shows an internal code where a title exists: the pages of decided
cases, walked in Kazakh and in Russian, are searched for the codes of the permit domain."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import time_machine

from engine import tasks
from engine.db import db
from handlers import documents, grounds, titles
from tests.inbox_support import client, make_user, sign_in  # noqa: F401
from tests.permit_support import (OFFICER, almaty, application, decide, deploy_procedures,
                                  file_application, load_reference, sweep)

FILED = almaty(2026, 6, 10, 10, 0)


def known_codes() -> set[str]:
    codes = set(documents.DOCUMENT_TYPES) | set(titles.PROCEDURES) | set(titles.OUTCOMES)
    codes |= {c for c in grounds.REFUSAL_GROUNDS if c != "other"} | set(titles.DEADLINES)
    codes |= {c for c in titles.CHECKS if "." in c or "_" in c} | {"approve", "in_progress", "not_accepted"}
    codes |= {"last_name", "first_name", "birth_date", "passport_no", "amount_kzt", "tax_payment",
              "start_date", "data_matches", "decided_by"}
    codes |= {"UZ", "TJ", "working_days(", "exclude_start", "end_of_day"}
    return codes


class VisibleText(HTMLParser):
    """What a reader sees or hears: text outside scripts and styles, and the aria labels."""

    def __init__(self):
        super().__init__()
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def codes_in(text: str, codes) -> list[str]:
    return sorted(c for c in codes if re.search(r"(?<![\w.])" + re.escape(c) + r"(?![\w])", text))


@pytest.fixture
def decided(app):
    load_reference(app)
    deploy_procedures(app)
    make_user(OFFICER.name, full_name="Айгүл Серікова", position="Chief specialist of the department of employment")
    ids = {}
    with time_machine.travel(FILED, tick=False):
        refused = file_application(application(), filed_at=FILED).id
        issued = file_application(application(application_no="EGOV-2026-000002",
                                              applicant__iin=application()["applicant"]["iin"]), filed_at=FILED).id
        automatic = file_application(application(application_no="EGOV-2026-000003",
                                                 tax_payment__amount_kzt=1000), filed_at=FILED).id
        sweep(app)
        decide(refused, {"data_matches": True, "decision": "refuse", "grounds": ["other"],
                         "comment": "Работодатель проживает вне региона."})
        decide(issued, {"data_matches": True, "decision": "issue"})
        ids = {"refused": refused, "issued": issued, "automatic": automatic}
    db.session.remove()
    return ids


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_the_pages_of_decided_cases_show_titles_not_codes(decided, client, language):
    from web.inbox import users
    users.set_language(users.by_username(OFFICER.name), language, actor="test")
    sign_in(client, OFFICER.name)
    codes = known_codes()
    pages = ["/inbox", "/search?q=EGOV-2026"]
    for case_id in decided.values():
        pages.append(f"/cases/{case_id}")
        for task in db.session.query(tasks.HumanTask).filter_by(instance_id=case_id):
            pages.append(f"/tasks/{task.id}")
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        text = visible(response.get_data(as_text=True))
        assert not codes_in(text, codes), (path, codes_in(text, codes))
    # and the names are there instead
    case_page = visible(client.get(f"/cases/{decided['refused']}").get_data(as_text=True))
    expected = {"kk": ("Еңбек иммигрантына рұқсат беру", "Бас тартылды", "2 жұмыс күні"),
                "ru": ("Выдача разрешения трудовому иммигранту", "Отказано", "2 рабочих дня")}[language]
    for words in expected:
        assert words in case_page, words
    # the diagram's steps too, as the viewer draws them
    diagram = client.get(f"/cases/{decided['refused']}/diagram.bpmn").get_data(as_text=True)
    step = {"kk": 'name="Рұқсат туралы шешім қабылдау"', "ru": 'name="Принять решение о разрешении"'}[language]
    assert diagram.startswith("<?xml") and step in diagram and 'name="Decide on the permit"' not in diagram
