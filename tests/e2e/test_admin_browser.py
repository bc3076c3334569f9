"""Each administration page in a real browser (issue 21): an account's roles and region edited,
disabled and its password reset; an API client created with its token shown once, and revoked;
reference data (a quota refused then set and its use shown, MCI, tax rate, coefficient, an
eligible citizenship); a calendar day transfer added and removed. Every change is read back
after a reload and from the database."""
from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture fails these tests with the reason
    expect = None

from engine.db import db

pytestmark = pytest.mark.browser
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="module")
def admins(live_app):
    from web.inbox import users
    users.create_user("root", PASSWORD, ["admin"], None, actor="test", full_name="Root Admin")
    users.create_user("dana", PASSWORD, ["officer"], "AST", actor="test", full_name="Dana Serikova")
    db.session.commit()
    db.session.remove()
    return live_app


def sign_in_as(page, username, password=PASSWORD):
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/sign-in" not in url)


def fresh(model, **key):
    """The row as stored now; the test's read ends at once (the server's writes wait for no reader)."""
    db.session.remove()
    row = db.session.execute(db.select(model).filter_by(**key)).scalar_one_or_none()
    db.session.remove()
    return row


def working_day(day) -> bool:
    from engine import calendar
    db.session.remove()
    answer = calendar.current_calendar().is_working_day(day)
    db.session.remove()
    return answer


def test_the_administrator_edits_an_accounts_roles_and_region_resets_its_password_and_disables_it(page, admins, chromium):
    from web.inbox.users import User
    sign_in_as(page, "root")
    page.goto("/admin/users")
    page.get_by_role("link", name="dana", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account dana")

    page.get_by_label("supervisor", exact=True).check()
    page.get_by_label("Region (officers and supervisors)").select_option("")
    page.get_by_role("button", name="Save roles and region").click()
    expect(page.locator("#error-region")).to_have_text("Officers and supervisors work in one region: choose it.")
    page.get_by_label("supervisor", exact=True).check()
    page.get_by_label("Region (officers and supervisors)").select_option("SHY")
    page.get_by_role("button", name="Save roles and region").click()
    expect(page.get_by_text("Roles and region of dana saved; their sessions ended.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("supervisor", exact=True)).to_be_checked()
    expect(page.get_by_label("Region (officers and supervisors)")).to_have_value("SHY")
    page.goto("/admin/users")
    expect(page.get_by_role("row").filter(has_text="Dana Serikova")).to_contain_text("Shymkent")
    user = fresh(User, username="dana")
    assert sorted(user.roles) == ["officer", "supervisor"] and user.region == "SHY"

    page.get_by_role("link", name="dana", exact=True).click()
    page.get_by_label("Password (at least 10 characters)").fill("short")
    page.get_by_role("button", name="Set the password").click()
    expect(page.locator("#error-password")).to_have_text("A password has at least 10 characters.")
    page.get_by_label("Password (at least 10 characters)").fill("a-new-password-1")
    page.get_by_label("The password again").fill("a-new-password-1")
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_text("New password of dana set; their sessions ended.")).to_be_visible()

    # The new password works (another browser, nobody signed in), the old one does not.
    other = chromium.new_context(base_url=page.url.split("/admin")[0])
    try:
        dana = other.new_page()
        dana.goto("/sign-in")
        dana.get_by_label("Username").fill("dana")
        dana.get_by_label("Password").fill(PASSWORD)
        dana.get_by_role("button", name="Sign in").click()
        expect(dana).to_have_url(re.compile(r"/sign-in"))
        expect(dana.locator("#sign-in-error")).to_be_visible()  # the old password: refused
        sign_in_as(dana, "dana", "a-new-password-1")  # the new one: signed in (no longer on /sign-in)
        expect(dana.get_by_role("button", name="Sign out")).to_be_visible()

        page.get_by_role("button", name="Disable the account").click()
        expect(page.get_by_text("Account dana disabled.")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_contain_text("disabled")
        page.reload()
        expect(page.get_by_role("button", name="Enable the account")).to_be_visible()
        assert fresh(User, username="dana").disabled is True
        dana.goto("/inbox")  # the disabled account's open session has ended
        expect(dana).to_have_url(re.compile(r"/sign-in"))
    finally:
        other.close()


def test_an_api_client_is_created_with_its_token_shown_once_then_revoked(page, admins):
    from web.api.clients import ApiClient
    sign_in_as(page, "root")
    page.goto("/admin/clients")
    expect(page.get_by_role("heading", level=1)).to_have_text("API clients")
    page.get_by_label("Name (Latin letters, digits, dots, dashes)").fill("statistics office")
    page.get_by_label("read reports only (figures, no case)").check()
    page.get_by_label("work on tasks as an officer").check()
    page.get_by_role("button", name="Create the client").click()
    expect(page.locator("#error-name")).to_contain_text("Latin letters")
    expect(page.locator("#error-role")).to_have_text("A client that works on tasks acts as an officer: choose its role.")
    expect(page.locator("#new-token")).to_have_count(0)
    assert fresh(ApiClient, name="statistics office") is None

    page.get_by_label("Name (Latin letters, digits, dots, dashes)").fill("stat-office")
    page.get_by_label("work on tasks as an officer").uncheck()
    expect(page.get_by_label("read reports only (figures, no case)")).to_be_checked()
    page.get_by_label("Regions (none chosen: every region)").select_option(["AST", "SHY"])
    page.get_by_role("button", name="Create the client").click()
    expect(page.get_by_text("Client stat-office created. Copy its token now: it is shown only once.")).to_be_visible()
    token = page.locator("#new-token").inner_text()
    assert len(token) >= 40
    row = page.get_by_role("row").filter(has_text="stat-office")
    expect(row).to_contain_text("read reports only (figures, no case)")
    expect(row).to_contain_text("Astana, Shymkent")
    client = fresh(ApiClient, name="stat-office")
    assert client.scopes == ["reports:read"] and client.regions == ["AST", "SHY"]
    assert client.token_hash == hashlib.sha256(token.encode()).hexdigest()

    answer = page.request.get("/api/v1/reports/compliance", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200
    page.goto("/admin/clients")  # reloaded: the token is gone for good
    expect(page.locator("#new-token")).to_have_count(0)
    assert token not in page.content()

    page.get_by_role("button", name="Revoke stat-office").click()
    expect(page.get_by_text("Client stat-office revoked: its token no longer works.")).to_be_visible()
    page.reload()
    expect(page.get_by_role("row").filter(has_text="stat-office")).to_contain_text("revoked")
    assert fresh(ApiClient, name="stat-office").revoked_at is not None
    refused = page.request.get("/api/v1/reports/compliance", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 401


def test_reference_data_a_quota_refused_then_set_and_its_use_shown_mci_rate_coefficient_citizenship(page, admins):
    from engine import clock
    from handlers import quota, reference
    year = clock.local_now().year
    sign_in_as(page, "root")
    page.goto("/admin/reference")
    expect(page.get_by_role("heading", level=1)).to_have_text("Reference data")
    astana = page.locator("table.quotas").get_by_role("row").filter(has_text="Astana")
    expect(astana).to_contain_text("not loaded")

    page.get_by_label("Region", exact=True).first.select_option("AST")
    page.locator("#quota-units").fill("-3")
    page.get_by_role("button", name="Save the quota").click()
    expect(page.get_by_text("Nothing was saved: correct the fields marked below.")).to_be_visible()
    expect(page.locator("#error-units")).to_have_text("Give a number of at least 0.")
    assert fresh(reference.Quota, region="AST", year=year) is None

    page.locator("#quota-units").fill("5")
    page.get_by_role("button", name="Save the quota").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(astana.get_by_role("cell")).to_have_text(["5", "0", "0", "5"])
    # A case under consideration holds one unit: the page shows it held and one fewer remaining.
    quota.hold_unit(db.session, region="AST", year=year, instance_id="case-holding-a-unit", now=clock.now())
    db.session.commit()
    db.session.remove()
    page.reload()
    expect(astana.get_by_role("cell")).to_have_text(["5", "1", "0", "4"])
    assert fresh(reference.Quota, region="AST", year=year).units == 5

    page.locator("#mci-year").fill(str(year))
    page.locator("#mci-amount").fill("0")
    page.get_by_role("button", name="Save the MCI").click()
    expect(page.locator("#error-amount_kzt")).to_be_visible()
    page.locator("#mci-amount").fill("4325")
    page.get_by_role("button", name="Save the MCI").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.locator("#rate-year").fill(str(year))
    page.locator("#rate").fill("abc")
    page.get_by_role("button", name="Save the rate").click()
    expect(page.locator("#error-rate")).to_have_text("Give a number above zero, such as 1.5.")
    page.locator("#rate").fill("2.5")
    page.get_by_role("button", name="Save the rate").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.get_by_label("Region", exact=True).nth(1).select_option("SHY")
    page.locator("#coefficient").fill("1.2")
    page.get_by_role("button", name="Save the coefficient").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    page.locator("#citizenship-code").fill("U1")
    page.get_by_role("button", name="Add the citizenship").click()
    expect(page.locator("#error-code")).to_have_text("Give the country's two-letter code (ISO 3166-1), such as UZ.")
    page.locator("#citizenship-code").fill("uz")
    page.get_by_role("button", name="Add the citizenship").click()
    expect(page.get_by_text("Saved.")).to_be_visible()

    page.reload()
    expect(page.locator("#mci ~ table").first.get_by_role("row").filter(has_text=str(year))).to_contain_text("4")
    expect(page.get_by_role("row").filter(has_text="Shymkent").last).to_contain_text("1")
    expect(page.get_by_role("button", name="Remove Uzbekistan")).to_be_visible()
    assert fresh(reference.Mci, year=year).amount_kzt == 4325
    assert fresh(reference.TaxRate, year=year).rate_mci_per_month == Decimal("2.5")
    assert fresh(reference.RegionalCoefficient, region="SHY").coefficient == Decimal("1.2")
    assert fresh(reference.EligibleCitizenship, code="UZ") is not None

    page.get_by_role("button", name="Remove Uzbekistan").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.get_by_role("button", name="Remove Uzbekistan")).to_have_count(0)
    assert fresh(reference.EligibleCitizenship, code="UZ") is None


def test_a_calendar_day_transfer_is_added_and_removed(page, admins):
    sign_in_as(page, "root")
    page.goto("/admin/calendar")
    expect(page.get_by_role("heading", level=1)).to_have_text("Working calendar: day transfers")
    saturday = date(2030, 1, 5)  # a Saturday
    page.get_by_label("Date").fill(saturday.isoformat())
    page.get_by_role("button", name="Record the transfer").click()
    expect(page.locator("#error-kind")).to_be_visible()
    expect(page.locator("#error-reason")).to_have_text("Fill this in.")
    page.get_by_label("a working day").check()
    page.get_by_label("Reason (the decree)").fill("Decree 123: Saturday worked for Monday")
    page.get_by_role("button", name="Record the transfer").click()
    expect(page.get_by_text("Day transfer for 05.01.2030 saved.")).to_be_visible()
    page.reload()
    row = page.get_by_role("row").filter(has_text="Decree 123")
    expect(row).to_contain_text("a working day")
    expect(row).to_contain_text("root")
    assert working_day(saturday)

    row.get_by_role("button", name="Remove the transfer of").click()
    expect(page.get_by_text("Day transfer for 05.01.2030 removed.")).to_be_visible()
    page.reload()
    expect(page.get_by_role("row").filter(has_text="Decree 123")).to_have_count(0)
    assert not working_day(saturday)
