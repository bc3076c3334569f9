"""The catalogue analysts build diagrams from: operators and forms as the running service knows them."""
from engine import definitions
from tests.permit_support import PROCESSES
from tests.test_api_support import api, api_app, make_token  # noqa: F401  fixtures



def deploy_permit_diagrams(app):
    app.config["FORMS_DIR"] = str(PROCESSES / "forms")
    definitions.deploy_directory(PROCESSES, app.config, actor="test")


def test_an_analyst_reads_every_operator_with_typed_parameters_and_where_it_is_used(api, api_app):
    deploy_permit_diagrams(api_app)
    response = api.get("/api/v1/operators", headers=make_token(scopes=("definitions:write",)))
    assert response.status_code == 200
    by_name = {op["name"]: op for op in response.get_json()["items"]}
    revoke = by_name["permits.revoke"]
    assert revoke["description"].startswith("`permits.revoke`: revoke an active permit")
    assert [(p["name"], p["type"], p["required"]) for p in revoke["parameters"]] == [
        ("permit_no", "str", True), ("ground", "str", True), ("initiator_type", "str", True),
        ("initiator_id", "str", True), ("comment", "str | None", False), ("confirmed_by", "str | None", False)]
    assert revoke["result"]["type"] == "dict" and revoke["external"] is False
    assert by_name["police.request_check"]["external"] is True
    assert by_name["police.request_check"]["retryable"] is True
    sites = {(u["process_id"], u["element_id"]) for u in by_name["revocations.check"]["used_in"]}
    assert sites == {("permit_revocation", "check_permit"), ("permit_revocation", "check_again")}


def test_an_operator_no_deployed_diagram_calls_is_listed_as_unused(api, api_app):
    response = api.get("/api/v1/operators", headers=make_token(scopes=("definitions:write",)))
    assert all(op["used_in"] == [] for op in response.get_json()["items"])


def test_the_forms_list_their_fields_and_the_user_tasks_that_show_them(api, api_app):
    deploy_permit_diagrams(api_app)
    response = api.get("/api/v1/forms", headers=make_token(scopes=("definitions:write",)))
    assert response.status_code == 200
    by_name = {f["name"]: f for f in response.get_json()["items"]}
    assert set(by_name) == {"decision.schema.json", "revocation_review.schema.json"}
    review = by_name["revocation_review.schema.json"]
    assert review["fields"] and all({"name", "title", "type", "required"} <= f.keys() for f in review["fields"])
    assert {u["process_id"] for u in review["used_in"]} == {"permit_revocation"}


def test_the_catalogue_needs_a_token_with_a_definitions_or_instances_scope(api, api_app):
    assert api.get("/api/v1/operators").status_code == 401
    refused = api.get("/api/v1/forms", headers=make_token(scopes=("cases:read",)))
    assert refused.status_code == 403 and "definitions:write" in refused.get_json()["detail"]
