"""Sign-in, sessions and the rules every page of the inbox obeys."""
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
import time_machine

from app import create_app
from engine import audit
from engine.db import db
from tests.conftest import make_config
from tests.inbox_support import PASSWORD, client, csrf, make_user, post, sign_in, token_in  # noqa: F401

PAGES = ["/", "/inbox", "/tasks/some-task", "/cases/some-case", "/cases/some-case/diagram.bpmn",
         "/supervision", "/incidents", "/definitions", "/definitions/1", "/search?q=950112300123"]


def events(name):
    return list(db.session.execute(sa.select(audit.AuditEvent).filter_by(event=name)).scalars())


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_stranger_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_the_sign_in_page_labels_its_fields_and_carries_a_csrf_token(client):
    html = client.get("/sign-in").get_data(as_text=True)
    assert '<label for="username">' in html and '<label for="password">' in html
    assert token_in(html)


def test_an_officer_signs_in_and_lands_in_the_inbox(app, client):
    make_user("aigul")
    response = sign_in(client, "aigul")
    assert response.headers["Location"] == "/"
    assert client.get("/").headers["Location"] == "/inbox"
    assert client.get("/inbox").status_code == 200
    assert [e.actor for e in events("user_signed_in")] == ["aigul"]


def test_a_wrong_password_is_refused_without_telling_whether_the_user_exists(app, client):
    make_user("aigul")
    page = client.get("/sign-in").get_data(as_text=True)
    wrong = client.post("/sign-in", data={"username": "aigul", "password": "nope-nope-nope",
                                          "csrf_token": token_in(page)})
    unknown = client.post("/sign-in", data={"username": "nobody", "password": "nope-nope-nope",
                                            "csrf_token": token_in(page)})
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password." in wrong.get_data(as_text=True)
    assert "Wrong username or password." in unknown.get_data(as_text=True)
    assert client.get("/inbox").status_code == 302
    assert len(events("sign_in_failed")) == 2


def test_five_wrong_passwords_pause_the_name_from_that_address_for_fifteen_minutes(app, client):
    make_user("aigul")
    start = datetime(2026, 6, 15, 9, 0, tzinfo=timezone.utc)
    with time_machine.travel(start, tick=False) as traveller:
        token = token_in(client.get("/sign-in").get_data(as_text=True))
        for _ in range(5):
            client.post("/sign-in", data={"username": "aigul", "password": "wrong-password",
                                          "csrf_token": token})
        assert len(events("sign_in_paused")) == 1
        refused = client.post("/sign-in", data={"username": "aigul", "password": PASSWORD,
                                                "csrf_token": token})
        assert refused.status_code == 401 and "Wrong username or password." in refused.get_data(as_text=True)
        traveller.move_to(start + timedelta(minutes=14))
        assert client.post("/sign-in", data={"username": "aigul", "password": PASSWORD,
                                             "csrf_token": token}).status_code == 401
        traveller.move_to(start + timedelta(minutes=16))
        assert client.post("/sign-in", data={"username": "aigul", "password": PASSWORD,
                                             "csrf_token": token}).status_code == 302


def test_the_pause_threshold_is_configuration(migrated_database):
    app = create_app(make_config(LOGIN_MAX_FAILURES=2, LOGIN_LOCKOUT_MINUTES=1))
    with app.app_context():
        try:
            make_user("aigul")
            client = app.test_client()
            token = token_in(client.get("/sign-in").get_data(as_text=True))
            for _ in range(2):
                client.post("/sign-in", data={"username": "aigul", "password": "wrong-password",
                                              "csrf_token": token})
            assert len(events("sign_in_paused")) == 1
        finally:
            db.session.remove()
            from tests.conftest import _empty_tables
            _empty_tables()


def test_a_disabled_account_cannot_sign_in_and_its_open_session_ends(app, client):
    from web.inbox import users
    make_user("aigul")
    sign_in(client, "aigul")
    users.set_disabled("aigul", True, actor="admin")
    assert client.get("/inbox").status_code == 302
    page = client.get("/sign-in").get_data(as_text=True)
    response = client.post("/sign-in", data={"username": "aigul", "password": PASSWORD,
                                             "csrf_token": token_in(page)})
    assert response.status_code == 401 and "disabled" in response.get_data(as_text=True)


def test_a_new_password_ends_the_sessions_signed_in_with_the_old_one(app, client):
    from web.inbox import users
    make_user("aigul")
    sign_in(client, "aigul")
    users.set_password("aigul", "another-long-password", actor="admin")
    assert client.get("/inbox").status_code == 302
    sign_in(client, "aigul", "another-long-password")
    assert client.get("/inbox").status_code == 200


def test_a_form_without_its_csrf_token_is_refused(app, client):
    make_user("aigul")
    assert client.post("/sign-in", data={"username": "aigul", "password": PASSWORD}).status_code == 400
    sign_in(client, "aigul")
    assert client.post("/sign-out").status_code == 400
    assert client.post("/sign-out", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/inbox").status_code == 200


def test_sign_out_ends_the_session_and_is_audited(app, client):
    make_user("aigul")
    sign_in(client, "aigul")
    response = post(client, "/sign-out", page="/inbox")
    assert response.headers["Location"] == "/sign-in"
    assert client.get("/inbox").status_code == 302
    assert [e.actor for e in events("user_signed_out")] == ["aigul"]


def test_sign_in_goes_back_to_the_page_asked_for_but_never_to_another_site(app, client):
    make_user("aigul")
    assert client.get("/search?q=1").headers["Location"] == "/sign-in?next=%2Fsearch%3Fq%3D1"
    page = client.get("/sign-in").get_data(as_text=True)
    response = client.post("/sign-in", data={"username": "aigul", "password": PASSWORD,
                                             "csrf_token": token_in(page), "next": "/search?q=1"})
    assert response.headers["Location"] == "/search?q=1"
    client.post("/sign-out", data={"csrf_token": csrf(client, "/inbox")})
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        page = client.get("/sign-in").get_data(as_text=True)
        response = client.post("/sign-in", data={"username": "aigul", "password": PASSWORD,
                                                 "csrf_token": token_in(page), "next": evil})
        assert response.headers["Location"] == "/", evil
        client.post("/sign-out", data={"csrf_token": csrf(client, "/inbox")})


def test_the_session_cookie_is_http_only_and_same_site_lax(app, client):
    make_user("aigul")
    response = sign_in(client, "aigul")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # a test run is not production


def test_session_cookies_are_secure_outside_debug_and_testing(migrated_database):
    production = create_app(make_config(TESTING=False))
    assert production.config["SESSION_COOKIE_SECURE"] is True
    forced = create_app(make_config(TESTING=False, SESSION_COOKIE_SECURE="false"))
    assert forced.config["SESSION_COOKIE_SECURE"] is False


def test_pages_forbid_framing_inline_scripts_and_caching(app, client):
    make_user("aigul")
    sign_in(client, "aigul")
    headers = client.get("/inbox").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_each_role_starts_on_its_own_page(app, client):
    make_user("gulnara", roles=("analyst",), region=None)
    make_user("root", roles=("admin",), region=None)
    sign_in(client, "gulnara")
    assert client.get("/").headers["Location"] == "/definitions"
    assert client.get("/inbox").status_code == 404
    post(client, "/sign-out", page="/definitions")
    sign_in(client, "root")
    assert client.get("/").headers["Location"] == "/incidents"
