"""The catalogue page: analysts and administrators read the operators and forms; others never reach it."""
import pytest

from engine import definitions
from tests.inbox_support import client, make_user, sign_in  # noqa: F401  fixtures
from tests.permit_support import PROCESSES


def test_an_analyst_reads_the_operators_and_forms_with_where_they_are_used(app, client):
    app.config["FORMS_DIR"] = str(PROCESSES / "forms")
    definitions.deploy_directory(PROCESSES, app.config, actor="test")
    make_user("gulnara", roles=("analyst",), region=None)
    sign_in(client, "gulnara")
    page = client.get("/catalogue")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<tr id="op-permits.revoke">' in html and "<code>permit_no</code>: str" in html
    assert '<tr id="form-revocation_review.schema.json">' in html
    assert "permit_revocation v1" in html
    assert 'href="/modeler/permit_revocation"' in html


@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_officers_and_supervisors_do_not_reach_the_catalogue(app, client, role):
    make_user("aigul", roles=(role,), region="AST")
    sign_in(client, "aigul")
    assert client.get("/catalogue").status_code == 404
    assert "/catalogue" not in client.get("/search").get_data(as_text=True)


def test_the_catalogue_needs_sign_in(app, client):
    response = client.get("/catalogue")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
