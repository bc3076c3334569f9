"""GET /permits/{permit_no}, GET /permits?holder_iin=, POST /permits/{permit_no}/revocations."""
from engine import instances
from handlers import cases
from tests.test_api_support import (  # noqa: F401  fixtures
    APPLICANT_IIN, EMPLOYER_IIN, OTHER_IIN, api, api_app, conforms, issue_permit, make_token, problem,
    stub, table_counts, valid_iin)

REVOCATION = {"ground": "false_documents", "details": "The medical certificate is forged.",
              "initiator": {"type": "police", "id": "DVD-AST-17"}}


def test_a_permit_reads_by_its_number_with_holder_employer_validity_and_history(api, api_app):
    number = issue_permit(api_app)
    response = api.get(f"/api/v1/permits/{number}", headers=make_token(scopes=["permits:read"]))
    assert response.status_code == 200
    conforms(response, "/permits/{permit_no}", "get")
    permit = response.get_json()
    assert permit["permit_no"] == number and permit["status"] == "active" and permit["region"] == "AST"
    assert permit["holder"]["iin"] == APPLICANT_IIN and permit["holder"]["name"] == "Karimov Aziz"
    assert permit["employer"] == {"iin": EMPLOYER_IIN, "name": "Aigerim Sadykova"}
    assert permit["months"] == 6 and permit["valid_from"] < permit["valid_to"]
    assert [e["event"] for e in permit["history"]] == ["issued"]


def test_the_permits_of_a_holder_newest_first(api, api_app):
    first = issue_permit(api_app, case_id="00000000-0000-4000-8000-00000000000a")
    second = issue_permit(api_app, case_id="00000000-0000-4000-8000-00000000000b")
    issue_permit(api_app, holder_iin=OTHER_IIN, case_id="00000000-0000-4000-8000-00000000000c")
    headers = make_token(scopes=["permits:read"])
    response = api.get("/api/v1/permits", headers=headers, query_string={"holder_iin": APPLICANT_IIN})
    conforms(response, "/permits", "get")
    assert [p["permit_no"] for p in response.get_json()["items"]] == [second, first]
    empty = api.get("/api/v1/permits", headers=headers, query_string={"holder_iin": valid_iin("85010130002")})
    assert empty.status_code == 200 and empty.get_json()["items"] == []


def test_permit_lookups_refuse_bad_input_and_other_regions(api, api_app):
    number = issue_permit(api_app)
    headers = make_token(scopes=["permits:read"])
    problem(api.get("/api/v1/permits/AST-2026-999999", headers=headers), 404)
    problem(api.get("/api/v1/permits/nonsense", headers=headers), 404)
    assert "holder_iin" in problem(api.get("/api/v1/permits", headers=headers), 422)["errors"]
    assert "holder_iin" in problem(api.get("/api/v1/permits", headers=headers,
                                           query_string={"holder_iin": "900312300015"}), 422)["errors"]
    problem(api.get(f"/api/v1/permits/{number}", headers=make_token("c", ["cases:read"])), 403)
    elsewhere = make_token("almaty", ["permits:read"], ["ALA"])
    problem(api.get(f"/api/v1/permits/{number}", headers=elsewhere), 403)
    hidden = api.get("/api/v1/permits", headers=elsewhere, query_string={"holder_iin": APPLICANT_IIN})
    assert hidden.get_json()["items"] == []
    problem(api.get(f"/api/v1/permits/{number}"), 401)


def test_a_revocation_starts_a_revocation_case(api, api_app, stub):
    from engine import audit
    number = issue_permit(api_app)
    headers = make_token(name="police-ismp", scopes=["revocations:write", "cases:read"])
    response = api.post(f"/api/v1/permits/{number}/revocations", headers=headers, json=REVOCATION)
    assert response.status_code == 201, response.get_json()
    conforms(response, "/permits/{permit_no}/revocations", "post")
    case = response.get_json()
    assert case["kind"] == "revocation" and case["permit_no"] == number and case["region"] == "AST"
    assert case["permit"]["permit_no"] == number and case["status"] == "in_progress"
    assert case["applicant"] == {"iin": APPLICANT_IIN, "name": "Karimov Aziz"}
    data = instances.current_data(instances.peek(instances.get(case["case_id"])))
    assert data["permit_no"] == number and data["region"] == "AST"
    assert data["revocation"] == {"ground": "false_documents", "details": "The medical certificate is forged.",
                                  "initiator": {"type": "police", "id": "DVD-AST-17"}}
    assert audit.trail(case["case_id"])[0].actor == "api:police-ismp"


def test_a_second_revocation_while_one_is_in_progress_is_a_conflict(api, api_app, stub):
    number = issue_permit(api_app)
    headers = make_token(scopes=["revocations:write"])
    first = api.post(f"/api/v1/permits/{number}/revocations", headers=headers, json=REVOCATION).get_json()
    before = table_counts()
    body = problem(api.post(f"/api/v1/permits/{number}/revocations", headers=headers, json=REVOCATION), 409)
    assert body["case_id"] == first["case_id"]
    assert table_counts() == before


def test_a_permit_no_longer_active_cannot_be_revoked(api, api_app, stub):
    from engine.db import db
    from handlers.permits import get_permit
    number = issue_permit(api_app)
    get_permit(number).status = "expired"
    db.session.commit()
    problem(api.post(f"/api/v1/permits/{number}/revocations", headers=make_token(scopes=["revocations:write"]),
                     json=REVOCATION), 409)
    assert cases.Case.query.count() == 0


def test_malformed_revocations_are_422_and_start_nothing(api, api_app, stub):
    number = issue_permit(api_app)
    headers = make_token(scopes=["revocations:write"])
    before = table_counts()
    for body, field in [
        (dict(REVOCATION, ground="bad_mood"), "ground"),
        (dict(REVOCATION, ground="other", details=""), "details"),
        (dict(REVOCATION, initiator={"type": "neighbour", "id": "x"}), "initiator.type"),
        (dict(REVOCATION, initiator={"type": "police"}), "initiator.id"),
        ({k: v for k, v in REVOCATION.items() if k != "ground"}, "ground"),
        (dict(REVOCATION, colour="red"), "colour"),
    ]:
        response = api.post(f"/api/v1/permits/{number}/revocations", headers=headers, json=body)
        assert field in problem(response, 422)["errors"], response.get_json()
    assert table_counts() == before


def test_revocations_need_their_scope_an_existing_permit_and_a_deployed_procedure(api, api_app):
    number = issue_permit(api_app)
    problem(api.post(f"/api/v1/permits/{number}/revocations", headers=make_token("r", ["permits:read"]),
                     json=REVOCATION), 403)
    headers = make_token("w", ["revocations:write"])
    problem(api.post("/api/v1/permits/AST-2026-999999/revocations", headers=headers, json=REVOCATION), 404)
    before = table_counts()
    problem(api.post(f"/api/v1/permits/{number}/revocations", headers=headers, json=REVOCATION), 503)
    assert table_counts() == before
