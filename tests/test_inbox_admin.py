"""Administration in the browser: accounts, API clients, reference data, day transfers (issue 21)."""
from datetime import date

import pytest
import sqlalchemy as sa

from engine import audit, calendar
from engine.db import db
from handlers import reference
from tests.inbox_support import PASSWORD, client, make_user, post, sign_in  # noqa: F401
from web.api import clients
from web.inbox import users


@pytest.fixture
def admin(app, client):
    make_user("root", roles=("admin",), region=None)
    make_user("aigul", region="AST")
    make_user("erlan", roles=("supervisor",), region="AST")
    make_user("gulnara", roles=("analyst",), region=None)
    sign_in(client, "root")
    return client


def events(name):
    return [e for e in db.session.execute(sa.select(audit.AuditEvent).filter_by(event=name)).scalars()]


def send(client, url, data):
    return post(client, url, data, page=url)


def test_the_administrator_creates_an_officer_who_can_then_sign_in(admin, app):
    response = send(admin, "/admin/users", {
        "username": "nurlan", "full_name": "Nurlan Abenov", "position": "Chief specialist",
        "roles": "officer", "region": "SHY", "language": "kk",
        "password": "long-enough-pw", "password_again": "long-enough-pw"})
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Account nurlan created." in page and "Nurlan Abenov" in page
    user = users.by_username("nurlan")
    assert (user.roles, user.region, user.language, user.position) == (["officer"], "SHY", "kk", "Chief specialist")
    assert events("user_created")[-1].actor == "root"
    other = app.test_client()
    sign_in(other, "nurlan", "long-enough-pw")


def test_a_new_account_with_bad_fields_is_refused_field_by_field_and_nothing_is_created(admin):
    response = send(admin, "/admin/users", {
        "username": "aigul", "roles": "officer", "region": "", "password": "short", "password_again": "short"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<p class="error" id="error-username">This username is taken.</p>' in page
    assert '<p class="error" id="error-region">Officers and supervisors work in one region: choose it.</p>' in page
    assert '<p class="error" id="error-password">A password has at least 10 characters.</p>' in page
    assert len(users.all_users()) == 4 and not events("user_created")[4:]


def test_an_administrator_account_takes_no_region_and_an_unknown_role_is_refused(admin):
    page = send(admin, "/admin/users", {"username": "x1", "roles": ["admin", "wizard"], "region": "AST",
                                        "password": "long-enough-pw", "password_again": "long-enough-pw"})
    assert page.status_code == 422
    assert 'id="error-roles">Choose only the listed values.' in page.get_data(as_text=True)
    page = send(admin, "/admin/users", {"username": "x2", "roles": "analyst", "region": "AST",
                                        "password": "long-enough-pw", "password_again": "long-enough-pw"})
    assert "Administrators and analysts work across regions: choose no region." in page.get_data(as_text=True)
    assert users.by_username("x1") is None and users.by_username("x2") is None


def test_the_administrator_moves_an_officer_to_supervisor_of_another_region_and_their_session_ends(admin, app):
    officer = app.test_client()
    sign_in(officer, "aigul")
    response = send(admin, "/admin/users/aigul", {"action": "access", "roles": "supervisor", "region": "SHY"})
    assert response.status_code == 302
    db.session.expire_all()
    user = users.by_username("aigul")
    assert (user.roles, user.region) == (["supervisor"], "SHY")
    assert officer.get("/inbox").status_code == 302  # back to sign-in
    event = events("user_access_set")[-1]
    assert event.details["old"] == {"roles": ["officer"], "region": "AST"} and event.actor == "root"


def test_the_administrator_resets_a_password_and_the_two_must_match(admin, app):
    refused = send(admin, "/admin/users/aigul", {"action": "password", "password": "new-password-1",
                                                "password_again": "new-password-2"})
    assert refused.status_code == 422
    assert "The two passwords differ." in refused.get_data(as_text=True)
    assert send(admin, "/admin/users/aigul", {"action": "password", "password": "new-password-1",
                                             "password_again": "new-password-1"}).status_code == 302
    sign_in(app.test_client(), "aigul", "new-password-1")
    assert events("user_password_set")[-1].details == {"username": "aigul"}


def test_the_administrator_disables_and_enables_an_account_but_not_their_own(admin, app):
    assert send(admin, "/admin/users/aigul", {"action": "disable"}).status_code == 302
    db.session.expire_all()
    assert users.by_username("aigul").disabled
    mine = send(admin, "/admin/users/root", {"action": "disable"})
    assert mine.status_code == 422 and "You cannot disable your own account." in mine.get_data(as_text=True)
    assert send(admin, "/admin/users/aigul", {"action": "enable"}).status_code == 302
    db.session.expire_all()
    assert not users.by_username("aigul").disabled and not users.by_username("root").disabled
    assert [e.event for e in db.session.execute(sa.select(audit.AuditEvent).where(
        audit.AuditEvent.event.in_(["user_disabled", "user_enabled"]))).scalars()] == ["user_disabled", "user_enabled"]


def test_the_administrator_sets_an_officers_position_and_language(admin):
    send(admin, "/admin/users/aigul", {"action": "profile", "full_name": "Aigul Sarsenova",
                                       "position": "Chief specialist", "language": "ru"})
    db.session.expire_all()
    user = users.by_username("aigul")
    assert (user.full_name, user.position, user.language) == ("Aigul Sarsenova", "Chief specialist", "ru")
    refused = send(admin, "/admin/users/aigul", {"action": "profile", "language": "de"})
    assert refused.status_code == 422
    assert 'id="error-language">Choose one of the listed values.' in refused.get_data(as_text=True)
    db.session.expire_all()
    assert users.by_username("aigul").language == "ru"


def test_an_api_client_is_created_with_its_token_shown_once_and_then_revoked(admin, app):
    response = send(admin, "/admin/clients", {"name": "egov-portal", "scopes": ["applications:write", "cases:read"],
                                              "regions": ["AST"]})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    token = page.split('<code id="new-token">')[1].split("</code>")[0]
    assert clients.authenticate(token).name == "egov-portal"
    assert token not in admin.get("/admin/clients").get_data(as_text=True)
    assert clients.all_clients()[0].regions == ["AST"]
    assert post(admin, "/admin/clients/egov-portal/revoke", page="/admin/clients").status_code == 302
    db.session.expire_all()
    assert clients.authenticate(token) is None
    assert [e.actor for e in events("api_client_revoked")] == ["root"]


def test_every_api_scope_can_be_chosen_on_the_page_by_what_it_lets_a_client_do(admin):
    """A Prometheus client (metrics:read) and an operations console (operations:write) are made
    from the page like any other; every scope of the API is offered with its words."""
    page = admin.get("/admin/clients").get_data(as_text=True)
    for scope in clients.SCOPES:
        assert f'name="scopes" value="{scope}"' in page, scope
    assert "read the service&#39;s metrics (monitoring)" in page or "read the service's metrics (monitoring)" in page
    response = send(admin, "/admin/clients", {"name": "prometheus", "scopes": ["metrics:read"]})
    token = response.get_data(as_text=True).split('<code id="new-token">')[1].split("</code>")[0]
    assert admin.application.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"}) \
        .status_code == 200


def test_an_api_client_with_bad_fields_is_refused_field_by_field(admin):
    response = send(admin, "/admin/clients", {"name": "bad name!", "scopes": ["tasks:write", "root:all"]})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="error-name">Use Latin letters' in page
    assert 'id="error-scopes">Choose only the listed values.' in page
    assert not clients.all_clients()
    response = send(admin, "/admin/clients", {"name": "robot", "scopes": ["tasks:write"]})
    assert 'id="error-role">A client that works on tasks acts as an officer: choose its role.' in response.get_data(as_text=True)
    assert not clients.all_clients()


def test_the_administrator_sets_a_quota_and_sees_its_use(admin):
    response = send(admin, "/admin/reference", {"action": "quota", "region": "AST", "year": "2026", "units": "1500"})
    assert response.status_code == 302
    assert reference.quota_units("AST", 2026) == 1500
    page = admin.get("/admin/reference?year=2026").get_data(as_text=True)
    row = page.split("Astana")[1].split("</tr>")[0] if "Astana" in page else ""
    assert "1,500" in row or "1 500" in row or "1500" in row
    assert events(reference.CHANGED)[-1].details == {"table": "quota", "key": {"region": "AST", "year": 2026},
                                                     "old": None, "new": 1500}


def test_reference_changes_with_bad_values_are_refused_with_the_field_named(admin):
    for data, field, message in [
        ({"action": "quota", "region": "AST", "year": "1999", "units": "10"}, "year", "Give a number from 2000 to 2100."),
        ({"action": "quota", "region": "XXX", "year": "2026", "units": "10"}, "region", "Choose one of the listed values."),
        ({"action": "mci", "year": "2026", "amount_kzt": "3,9"}, "amount_kzt", "Give a whole number."),
        ({"action": "tax_rate", "year": "2026", "rate": "-1"}, "rate", "Give a number above zero, such as 1.5."),
        ({"action": "coefficient", "region": "AST", "coefficient": "abc"}, "coefficient", "Give a number above zero"),
        ({"action": "citizenship_add", "code": "U1"}, "code", "Give the country's two-letter code"),
    ]:
        response = send(admin, "/admin/reference", data)
        assert response.status_code == 422, data
        assert f'id="error-{field}">{message}' in response.get_data(as_text=True).replace("&#39;", "'"), data
    assert not events(reference.CHANGED)


def test_the_administrator_sets_mci_rate_coefficient_and_citizenships(admin):
    send(admin, "/admin/reference", {"action": "mci", "year": "2026", "amount_kzt": "4325"})
    send(admin, "/admin/reference", {"action": "tax_rate", "year": "2026", "rate": "2,5"})
    send(admin, "/admin/reference", {"action": "coefficient", "region": "SHY", "coefficient": "1.2"})
    send(admin, "/admin/reference", {"action": "citizenship_add", "code": "uz"})
    tables = reference.tax_tables(2026, "SHY")
    assert tables["mci"] == {2026: 4325} and str(tables["rate_mci_per_month"][2026]) == "2.500"
    assert str(tables["regional_coefficient"]["SHY"]) == "1.2000"
    assert reference.eligible_citizenships() == ["UZ"]
    page = admin.get("/admin/reference").get_data(as_text=True)
    assert "Uzbekistan" in page
    send(admin, "/admin/reference", {"action": "citizenship_remove", "code": "UZ"})
    assert not db.session.execute(sa.select(reference.EligibleCitizenship)).first()
    assert len(events(reference.CHANGED)) == 5


def test_the_administrator_records_and_removes_a_day_transfer(admin):
    response = send(admin, "/admin/calendar", {"action": "set", "day": "2026-12-19", "kind": "working",
                                               "reason": "Government decree No. 1"})
    assert response.status_code == 302
    assert calendar.current_calendar().is_working_day(date(2026, 12, 19))  # a Saturday
    assert "Government decree No. 1" in admin.get("/admin/calendar").get_data(as_text=True)
    assert send(admin, "/admin/calendar", {"action": "remove", "day": "2026-12-19"}).status_code == 302
    assert not calendar.current_calendar().is_working_day(date(2026, 12, 19))
    assert [e.actor for e in events("calendar_override_set") + events("calendar_override_removed")] == ["root", "root"]


def test_a_day_transfer_without_a_date_kind_or_reason_is_refused_by_field(admin):
    response = send(admin, "/admin/calendar", {"action": "set", "day": "19.12.2026", "reason": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="error-day">Give a date as YYYY-MM-DD.' in page
    assert 'id="error-kind">Choose one.' in page and 'id="error-reason">Fill this in.' in page
    assert not calendar.overrides_in_force() or all(o.source == "config" for o in calendar.overrides_in_force())


@pytest.mark.parametrize("who", ["aigul", "erlan", "gulnara"])
def test_officers_supervisors_and_analysts_reach_no_administration_page(app, who):
    make_user("root", roles=("admin",), region=None)
    make_user(who, roles={"aigul": ("officer",), "erlan": ("supervisor",), "gulnara": ("analyst",)}[who],
              region=None if who == "gulnara" else "AST")
    from tests.inbox_support import FreshClient
    app.test_client_class = FreshClient
    browser = app.test_client()
    sign_in(browser, who)
    for url in ("/admin/users", "/admin/users/root", "/admin/clients", "/admin/reference", "/admin/calendar"):
        assert browser.get(url).status_code == 404, url
    response = post(browser, "/admin/users/root", {"action": "disable"})
    assert response.status_code == 404
    assert not users.by_username("root").disabled
    assert "Administration" not in browser.get("/", follow_redirects=True).get_data(as_text=True)


def test_a_change_without_its_csrf_token_is_refused(admin):
    response = admin.post("/admin/users/aigul", data={"action": "disable"})
    assert response.status_code == 400
    assert not users.by_username("aigul").disabled


@pytest.mark.parametrize("language, words", [("kk", "Тіркелгілер"), ("ru", "Учётные записи")])
def test_the_administration_pages_read_in_kazakh_and_russian(app, client, language, words):
    make_user("root", roles=("admin",), region=None, language=language)
    sign_in(client, "root")
    for url in ("/admin/users", "/admin/users/root", "/admin/clients", "/admin/reference", "/admin/calendar"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert words in page.get_data(as_text=True), url
    refused = send(client, "/admin/calendar", {"action": "set", "day": "x"})
    assert {"kk": "Күнді ЖЖЖЖ-АА-КК түрінде көрсетіңіз.", "ru": "Укажите дату в виде ГГГГ-ММ-ДД."}[language] \
        in refused.get_data(as_text=True)


def test_new_roles_without_the_region_they_need_are_refused_and_the_account_keeps_its_own(admin):
    response = send(admin, "/admin/users/gulnara", {"action": "access", "roles": "supervisor", "region": ""})
    assert response.status_code == 422
    assert 'id="error-region">Officers and supervisors work in one region: choose it.' in response.get_data(as_text=True)
    mine = send(admin, "/admin/users/root", {"action": "access", "roles": "analyst"})
    assert "You cannot take the administrator role from yourself." in mine.get_data(as_text=True)
    db.session.expire_all()
    assert users.by_username("gulnara").roles == ["analyst"] and users.by_username("root").roles == ["admin"]
    assert not events("user_access_set")
