"""`flask tokens create|revoke|list`: a token is printed once, stored hashed, revoked at once."""
import hashlib

import sqlalchemy as sa

from engine import audit
from engine.db import db
from web.api.clients import ApiClient
from tests.test_api_support import api, api_app, problem  # noqa: F401  fixtures


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))  # click 8.2+: stdout and stderr apart


def test_a_created_token_is_printed_once_and_stored_only_as_its_hash(api, api_app):
    result = _cli(api_app, "tokens", "create", "egov", "--scope", "cases:read,applications:write",
                  "--region", "AST", "--region", "ALA")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert len(token) >= 43
    client = db.session.execute(sa.select(ApiClient).filter_by(name="egov")).scalar_one()
    assert client.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(client.as_dict()) and client.scopes == ["applications:write", "cases:read"]
    assert client.regions == ["ALA", "AST"] and client.revoked_at is None
    assert api.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    created = db.session.execute(sa.select(audit.AuditEvent).filter_by(event="api_client_created")).scalar_one()
    assert created.details["client"] == "egov" and token not in str(created.details)


def test_an_officer_client_carries_role_and_assignee(api_app):
    result = _cli(api_app, "tokens", "create", "bot", "--scope", "tasks:write", "--role", "officer",
                  "--assignee", "Aliya Nurova")
    assert result.exit_code == 0, result.output
    client = db.session.execute(sa.select(ApiClient).filter_by(name="bot")).scalar_one()
    officer = client.officer()
    assert officer.name == "Aliya Nurova" and officer.roles == {"officer"} and officer.regions is None


def test_bad_requests_to_create_are_refused(api_app):
    assert _cli(api_app, "tokens", "create", "x", "--scope", "everything").exit_code == 1
    assert _cli(api_app, "tokens", "create", "x", "--scope", "cases:read", "--region", "MARS").exit_code == 1
    assert _cli(api_app, "tokens", "create", "x", "--scope", "tasks:write").exit_code == 1
    assert _cli(api_app, "tokens", "create", "bad name", "--scope", "cases:read").exit_code == 1
    assert _cli(api_app, "tokens", "create", "x", "--scope", "cases:read").exit_code == 0
    assert _cli(api_app, "tokens", "create", "x", "--scope", "cases:read").exit_code == 1  # names are not reused
    assert db.session.execute(sa.select(sa.func.count()).select_from(ApiClient)).scalar_one() == 1


def test_a_revoked_token_is_refused_and_listed_as_revoked(api, api_app):
    token = _cli(api_app, "tokens", "create", "police", "--scope", "messages:write").stdout.strip().splitlines()[0]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/messages", headers=headers).status_code == 200
    result = _cli(api_app, "tokens", "revoke", "police")
    assert result.exit_code == 0
    problem(api.get("/api/v1/messages", headers=headers), 401)
    listing = _cli(api_app, "tokens", "list").stdout
    assert "police" in listing and "revoked" in listing and token not in listing
    assert _cli(api_app, "tokens", "revoke", "nobody").exit_code == 1


def test_the_api_neither_reads_nor_sets_the_inbox_session_cookie(api, api_app):
    from tests.inbox_support import FreshClient, make_user, sign_in
    result = _cli(api_app, "tokens", "create", "portal", "--scope", "cases:read")
    token = result.stdout.strip().splitlines()[0]
    make_user("aigul")
    api_app.test_client_class = FreshClient
    browser = api_app.test_client()
    sign_in(browser, "aigul")  # a signed-in officer's session, renewed by every inbox page
    assert "session=" in browser.get("/inbox").headers.get("Set-Cookie", "")
    answered = browser.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert answered.status_code == 200 and "Set-Cookie" not in answered.headers
    refused = browser.get("/api/v1/cases")  # the officer's cookie, sent along, signs nobody in
    assert refused.status_code == 401 and "Set-Cookie" not in refused.headers
