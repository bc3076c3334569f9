"""Issue 15: sessions that end on the server, sign-in an attacker can neither probe nor use to
shut officers out, forms only from this site, safe redirects, and IINs kept out of URLs and logs."""
import logging
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
import time_machine

from engine import audit
from engine.db import db
from tests.conftest import deploy_sample, running_app
from tests.inbox_support import (PASSWORD, client, csrf, make_user, open_sample_case, post,  # noqa: F401
                                 sign_in, token_in)

IIN = "950112300123"


def events(name):
    return list(db.session.execute(sa.select(audit.AuditEvent).filter_by(event=name)).scalars())


def _attempt(client, username, password, address="10.0.0.1", **headers):
    token = token_in(client.get("/sign-in").get_data(as_text=True))
    return client.post("/sign-in", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


# --- 4. sessions end on the server ----------------------------------------------------------------

def _copied_cookie(client):
    return client.get_cookie("session").value


def test_a_session_cookie_copied_before_sign_out_opens_nothing_after_it(app, client):
    make_user("erlan", roles=("supervisor",))
    sign_in(client, "erlan")
    stolen = _copied_cookie(client)
    assert post(client, "/sign-out", page="/inbox").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    for page in ("/inbox", "/supervision"):
        response = thief.get(page)
        assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in"), page


# --- 6. sign-in throttling and answers that tell nothing -------------------------------------------

def test_a_password_spray_from_one_address_is_stopped(app, client):
    for name in ("aigul", "berik", "dana", "erlan", "gulnara", "admin"):
        make_user(name)
    answers = [_attempt(client, name, password).status_code
               for password in ("Password1!", "Qwerty123!", "Astana2026!")
               for name in ("aigul", "berik", "dana", "erlan", "gulnara", "admin")]
    assert answers.count(401) == 10 and answers.count(429) == 8
    assert len(events("sign_in_failed")) == 10


def test_the_pause_after_too_many_attempts_is_told_in_the_readers_language(app, client):
    make_user("aigul")
    answers = [_attempt(client, "aigul", "wrong-password", address="198.51.100.7", **{"Accept-Language": "ru"})
               for _ in range(11)]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    page = answers[-1].get_data(as_text=True)
    assert "Слишком много попыток" in page and "Too many" not in page
    # Other addresses and the API are not counted: the next address signs in.
    assert _attempt(client, "aigul", PASSWORD, address="198.51.100.8").status_code == 302


def test_an_attacker_elsewhere_cannot_lock_an_officer_out(app, client):
    make_user("aigul")
    for _ in range(8):
        _attempt(client, "aigul", "wrong-password", address="203.0.113.9")
    assert _attempt(client, "aigul", PASSWORD, address="203.0.113.9").status_code == 401
    assert _attempt(client, "aigul", PASSWORD, address="10.1.1.1").status_code == 302


def test_unknown_wrong_and_paused_names_get_the_same_answer(app, client):
    make_user("aigul")
    start = datetime(2026, 6, 15, 9, 0, tzinfo=timezone.utc)
    with time_machine.travel(start, tick=False):
        for _ in range(5):  # pause both names from this address
            _attempt(client, "aigul", "wrong-password")
            _attempt(client, "nobody", "wrong-password")
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        paused = _attempt(client, "aigul", PASSWORD)
        paused_unknown = _attempt(client, "nobody", "wrong-password")
    with time_machine.travel(start + timedelta(minutes=3), tick=False):
        wrong = _attempt(client, "aigul", "wrong-password", address="10.9.9.9")
        unknown = _attempt(client, "nobody", "wrong-password", address="10.9.9.8")

    def page(response):  # the answer, less its fresh CSRF token and the name typed in
        html = response.get_data(as_text=True)
        return response.status_code, html.replace(token_in(html), "").replace('value="nobody"', 'value="aigul"')
    assert page(paused)[0] == 401
    assert page(paused) == page(wrong) == page(unknown) == page(paused_unknown)
    assert len(events("sign_in_paused")) == 2  # an unknown name pauses exactly like a known one


def test_every_failed_sign_in_compares_a_password_hash(app, client, monkeypatch):
    from web.inbox import users
    make_user("aigul")
    compared = []
    real = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash", lambda h, p: compared.append(h) or real(h, p))
    for _ in range(6):
        _attempt(client, "aigul", "wrong-password")
    _attempt(client, "aigul", PASSWORD)  # paused by now
    _attempt(client, "nobody", "x")
    assert len(compared) == 8


# --- 7. forms only from this site; safe redirects -------------------------------------------------

def test_a_form_posted_from_a_foreign_origin_is_refused_even_with_a_valid_token(app, client):
    make_user("aigul")
    sign_in(client, "aigul")
    token = csrf(client, "/inbox")
    foreign = client.post("/sign-out", data={"csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and "another site" in foreign.get_data(as_text=True)
    referred = client.post("/sign-out", data={"csrf_token": token},
                           headers={"Referer": "https://evil.example/page"})
    assert referred.status_code == 403
    assert client.get("/inbox").status_code == 200  # still signed in: nothing happened
    own = client.post("/sign-out", data={"csrf_token": token}, headers={"Origin": "http://localhost"})
    assert own.status_code == 302


def test_a_foreign_origin_cannot_even_sign_in(app, client):
    make_user("aigul")
    assert _attempt(client, "aigul", PASSWORD, Origin="null").status_code == 403


def test_line_breaks_in_next_or_back_redirect_safely(app, client):
    make_user("aigul")
    token = token_in(client.get("/sign-in").get_data(as_text=True))
    response = client.post("/sign-in", data={"username": "aigul", "password": PASSWORD, "csrf_token": token,
                                             "next": "/inbox\r\nSet-Cookie: evil=1"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    response = post(client, "/tasks/no-such-task/claim", {"back": "/inbox\r\nX: 1"}, page="/inbox")
    assert response.status_code in (302, 404) and "\n" not in response.headers.get("Location", "")


# --- 8. IINs out of URLs and logs ----------------------------------------------------------------

def test_an_officer_searches_by_iin_with_a_posted_form(app, client):
    deploy_sample(app)
    make_user("aigul")
    case = open_sample_case(iin=IIN)
    sign_in(client, "aigul")
    page = client.get("/search").get_data(as_text=True)
    assert 'method="post"' in page
    found = post(client, "/search", {"q": IIN})
    assert found.status_code == 200 and f"/cases/{case.id}" in found.get_data(as_text=True)
    assert f"/cases/{case.id}" in client.get(f"/search?q={IIN}").get_data(as_text=True)  # still works


def test_the_development_servers_access_log_masks_iins_and_passports(migrated_database, caplog):
    from werkzeug.serving import make_server
    for app in running_app():
        server = make_server("127.0.0.1", 0, app, threaded=False)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with caplog.at_level(logging.INFO, logger="werkzeug"):
                for path in (f"/api/v1/permits?holder_iin={IIN}", f"/api/v1/cases?applicant_iin={IIN}",
                             f"/search?q={IIN}", "/search?q=FA1234567", "/x?passport_no=AB12"):
                    try:
                        urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}{path}", timeout=10)
                    except Exception:
                        pass
                time.sleep(0.1)
        finally:
            server.shutdown()
            thread.join(5)
        lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
        assert len(lines) >= 5, lines
        text = "\n".join(lines)
        assert IIN not in text and "FA1234567" not in text and "AB12" not in text
        assert "9501******23" in text


def test_gunicorns_access_log_masks_iins(app):
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    class Request:
        method, path, query, version, uri = "GET", "/api/v1/permits", f"holder_iin={IIN}", (1, 1), ""
        headers = []

    class Response:
        status, status_code, sent, response_length, headers = "200 OK", 200, 10, 10, []

    config = Config()
    config.set("accesslog", "-")
    log = Logger(config)
    collected = []
    collector = logging.Handler()
    collector.emit = lambda record: collected.append(collector.format(record))
    log.access_log.addHandler(collector)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/api/v1/permits?holder_iin={IIN}",
               "QUERY_STRING": f"holder_iin={IIN}", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1"}
    log.access(Response(), Request(), environ, timedelta(milliseconds=5))
    assert collected and IIN not in "\n".join(collected) and "9501******23" in "\n".join(collected)



def test_the_lean_access_log_writes_gunicorns_own_line_masked(app):
    """web/access_log.AccessLogger (gunicorn.conf.py's logger_class) writes, for the default
    format, the very line gunicorn's Logger writes, quotes escaped, IINs masked."""
    import base64
    import subprocess
    import sys
    from pathlib import Path

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    from web.access_log import AccessLogger

    class Request:
        method, path, query, version, uri = "GET", "/api/v1/permits", f"holder_iin={IIN}", (1, 1), ""
        headers = [("USER-AGENT", 'curl/8 "quoted"'), ("X-ANY", "x")]

    class Response:
        status, status_code, sent, response_length, headers = "404 NOT FOUND", 404, 0, 0, [("Content-Type", "x")]

    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/api/v1/permits?holder_iin={IIN}&q=%22a%22",
               "QUERY_STRING": f"holder_iin={IIN}&q=%22a%22", "SERVER_PROTOCOL": "HTTP/1.1",
               "REMOTE_ADDR": "10.0.0.1", "HTTP_USER_AGENT": 'curl/8 "quoted"', "HTTP_REFERER": "https://e.gov.kz/",
               "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"ops:secret").decode()}
    lines = []
    for kind in (Logger, AccessLogger):
        config = Config()
        config.set("accesslog", "-")
        log = kind(config)
        log.now = lambda: "[29/Nov/2026:07:00:00 +0000]"
        collected = []
        collector = logging.Handler()
        collector.emit = lambda record: collected.append(collector.format(record))
        log.access_log.addHandler(collector)
        try:
            log.access(Response(), Request(), environ, timedelta(milliseconds=5))
        finally:
            log.access_log.removeHandler(collector)
        lines.append(collected[-1])
    assert lines[1] == lines[0]
    assert IIN not in lines[1] and "9501******23" in lines[1] and 'curl/8 \\"quoted\\"' in lines[1]
    assert ' ops ' in lines[1] and "secret" not in lines[1] and '" 404 0 "https://e.gov.kz/"' in lines[1]
    root = Path(__file__).resolve().parent.parent
    named = subprocess.run([sys.executable, "-c", "import runpy; print(runpy.run_path('gunicorn.conf.py')['logger_class'])"],
                           cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    assert named == "web.access_log.AccessLogger"

# --- 11. invisible characters in names ---------------------------------------------------------------

def test_an_account_name_with_a_bidirectional_override_is_refused(app):
    import pytest
    from web.inbox import users
    with pytest.raises(users.UserError, match="U\\+202E"):
        make_user("aigul", full_name="Aigul \u202eSadykova")
    assert users.by_username("aigul") is None
