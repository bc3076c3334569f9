"""Helpers of the inbox tests: accounts, signing in with CSRF tokens, sample cases."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import g
from flask.testing import FlaskClient

from engine import tasks
from engine.db import db

PASSWORD = "correct-horse-battery"
DUE = "2026-06-17T23:59:59+05:00"
SCRIPT_NAME = "<script>alert(1)</script>"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class FreshClient(FlaskClient):
    """A test client whose every request starts with an empty `g`, as in a real server.

    The `app` fixture keeps one application context open for the whole test, and Flask lets
    requests share it; Flask-Login and Flask-WTF cache the user and the CSRF token in `g`,
    which would otherwise leak from one request into the next.
    """

    def open(self, *args, **kwargs):
        g.__dict__.clear()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = FreshClient
    return app.test_client()


def make_user(username, roles=("officer",), region="AST", password=PASSWORD, **kwargs):
    from web.inbox import users
    return users.create_user(username, password, list(roles), region, actor="test", **kwargs)


def token_in(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client, username, password=PASSWORD):
    page = client.get("/sign-in")
    response = client.post("/sign-in", data={"username": username, "password": password,
                                             "csrf_token": token_in(page.get_data(as_text=True))})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def csrf(client, page="/search") -> str:
    """A valid CSRF token of the client's session (any page with a form has one)."""
    return token_in(client.get(page).get_data(as_text=True))


def post(client, url, data=None, page="/search", **kwargs):
    return client.post(url, data={"csrf_token": csrf(client, page), **(data or {})}, **kwargs)


def open_sample_case(region="AST", name="Karimov Rustam", iin="950112300123", due=DUE, number=None,
                     scores=(1, 2, 3), extra=None):
    """A sample review case with a case row (number, applicant), waiting at its officer task."""
    from handlers.cases import open_case
    data = {"subject": "case", "scores": dict(zip("abc", scores)), "region": region,
            "deadlines": {"review": {"name": "review", "rule": "working_days(2)", "due_at": due}},
            "application": {"applicant": {"iin": iin, "last_name": name, "birth_date": "1995-01-12",
                                          "citizenship": "UZ"}}}
    data.update(extra or {})
    number = number or f"APP-{region}-{abs(hash((name, iin, due))) % 10**8}"
    return open_case("issue", "sample_review", data, region=region, created_by="portal",
                     application_no=number, applicant_iin=iin, applicant_name=name)


def open_task_of(instance_id):
    return db.session.execute(sa.select(tasks.HumanTask).filter_by(
        instance_id=instance_id, status=tasks.READY)).scalar_one()
