"""GET /messages and POST /messages/{name}: police_reply, employer_consent, contract_terminated."""
import sqlalchemy as sa
from jsonschema import Draft202012Validator

from engine import audit, messages
from engine.db import db
from handlers import cases
from tests.test_api_support import (  # noqa: F401  fixtures
    api, api_app, conforms, issue_permit, make_token, problem, stub, submit, table_counts)


def _send(api, headers, name, correlation, payload, message_id="m-1"):
    return api.post(f"/api/v1/messages/{name}", headers=headers,
                    json={"message_id": message_id, "correlation": correlation, "payload": payload})


def _refusals():
    return db.session.execute(sa.select(audit.AuditEvent).filter_by(event="message_refused")).scalars().all()


APPROVE = {"verdict": "approve", "reason": None}


def test_the_catalogue_lists_each_message_with_its_payload_schema(api, stub):
    response = api.get("/api/v1/messages", headers=make_token(scopes=["cases:read"]))
    assert response.status_code == 200
    conforms(response, "/messages", "get")
    items = {m["name"]: m for m in response.get_json()["items"]}
    assert set(items) == {"police_reply", "employer_consent", "contract_terminated"}
    assert items["police_reply"]["correlation"].startswith("case_id")
    assert items["contract_terminated"]["correlation"].startswith("permit_no")
    police = Draft202012Validator(items["police_reply"]["payload_schema"])
    assert police.is_valid({"verdict": "object", "reason": "on a watch list"})
    assert not police.is_valid({"verdict": "maybe"})
    assert not police.is_valid({"verdict": "approve", "colour": "red"})
    consent = items["employer_consent"]["payload_schema"]
    assert consent["properties"]["decision"]["enum"] == ["consent", "decline"]
    assert "signed_at" in consent["required"]
    problem(api.get("/api/v1/messages"), 401)


def test_a_police_reply_reaches_the_waiting_case(api, stub):
    headers = make_token(name="is-mp")
    case_id = submit(api, headers).get_json()["case_id"]
    response = _send(api, headers, "police_reply", case_id, APPROVE)
    assert response.status_code == 202, response.get_json()
    conforms(response, "/messages/police_reply", "post")
    assert response.get_json() == {"message_id": "m-1", "name": "police_reply", "correlation": case_id,
                                   "status": "delivered", "duplicate": False, "case_id": case_id,
                                   "detail": response.get_json()["detail"]}
    case = api.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()
    assert [s["name"] for s in case["current_steps"]] == ["Decide"]
    delivered = [e for e in audit.trail(case_id) if e.event == "message_delivered"]
    assert delivered[0].actor == "api:is-mp" and delivered[0].details["payload"] == APPROVE


def test_a_resent_message_answers_its_first_result_and_changes_nothing(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    _send(api, headers, "police_reply", case_id, APPROVE)
    before = table_counts()
    again = _send(api, headers, "police_reply", case_id, APPROVE)
    assert again.status_code == 200
    conforms(again, "/messages/police_reply", "post")
    assert again.get_json()["duplicate"] is True and again.get_json()["status"] == "delivered"
    assert again.get_json()["case_id"] == case_id
    assert table_counts() == before


def test_a_reply_for_an_unknown_case_is_404_and_recorded(api, stub):
    headers = make_token()
    unknown = "00000000-0000-4000-8000-000000000000"
    response = _send(api, headers, "police_reply", unknown, APPROVE)
    body = problem(response, 404)
    conforms(response, "/messages/police_reply", "post")
    assert body["message_status"] == "not_found"
    assert _receipt("m-1").status == "not_found"
    assert _refusals()[0].actor == "api:portal"
    again = _send(api, headers, "police_reply", unknown, APPROVE)
    assert again.status_code == 200 and again.get_json()["status"] == "not_found"


def test_a_late_reply_to_a_case_that_no_longer_waits_is_409_and_recorded(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    _send(api, headers, "police_reply", case_id, APPROVE, message_id="first")
    response = _send(api, headers, "police_reply", case_id, {"verdict": "object", "reason": "late"},
                     message_id="second")
    body = problem(response, 409)
    conforms(response, "/messages/police_reply", "post")
    assert body["message_status"] == "not_waiting" and body["case_id"] == case_id
    assert _refusals()[0].instance_id == case_id
    again = _send(api, headers, "police_reply", case_id, {"verdict": "object", "reason": "late"},
                  message_id="second")
    assert again.status_code == 200 and again.get_json()["status"] == "not_waiting"


def test_an_employer_consent_the_case_does_not_wait_for_is_409(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    response = _send(api, headers, "employer_consent", case_id,
                     {"decision": "consent", "signed_at": "2026-01-05T10:00:00+05:00"})
    problem(response, 409)
    conforms(response, "/messages/employer_consent", "post")


def test_malformed_messages_are_422_and_write_nothing(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    before = table_counts()
    for name, envelope, field in [
        ("police_reply", {"message_id": "x", "correlation": case_id, "payload": {"verdict": "maybe"}}, "payload.verdict"),
        ("police_reply", {"message_id": "x", "correlation": case_id, "payload": {"verdict": "object"}}, "payload.reason"),
        ("police_reply", {"message_id": "x", "correlation": case_id, "payload": {**APPROVE, "x": 1}}, "payload.x"),
        ("police_reply", {"message_id": "", "correlation": case_id, "payload": APPROVE}, "message_id"),
        ("police_reply", {"correlation": case_id, "payload": APPROVE}, "message_id"),
        ("police_reply", {"message_id": "x", "correlation": case_id, "payload": "approve"}, "payload"),
        ("employer_consent", {"message_id": "x", "correlation": case_id,
                              "payload": {"decision": "consent", "signed_at": "2026-01-05"}}, "payload.signed_at"),
        ("contract_terminated", {"message_id": "x", "correlation": "AST-2026-000001",
                                 "payload": {"terminated_on": "2026-13-01"}}, "payload.terminated_on"),
    ]:
        response = api.post(f"/api/v1/messages/{name}", headers=headers, json=envelope)
        assert field in problem(response, 422)["errors"], (envelope, response.get_json())
        conforms(response, f"/messages/{name}", "post")
    assert table_counts() == before


def test_unknown_messages_scopes_and_regions(api, stub):
    headers = make_token()
    case_id = submit(api, headers).get_json()["case_id"]
    problem(_send(api, headers, "weather_report", case_id, {}), 404)
    problem(_send(api, make_token("reader", ["cases:read"]), "police_reply", case_id, APPROVE), 403)
    elsewhere = make_token("police-ala", ["messages:write"], ["ALA"])
    before = table_counts()
    problem(_send(api, elsewhere, "police_reply", case_id, APPROVE), 403)
    assert table_counts() == before


def test_a_terminated_contract_starts_the_revocation_of_its_permit(api, api_app, stub):
    number = issue_permit(api_app)
    headers = make_token(name="esutd")
    payload = {"terminated_on": "2026-03-01", "contract_no": "TD-778", "employer_iin": None, "details": None}
    response = _send(api, headers, "contract_terminated", number, payload, message_id="esutd-1")
    assert response.status_code == 202, response.get_json()
    conforms(response, "/messages/contract_terminated", "post")
    case_id = response.get_json()["case_id"]
    case = cases.get(case_id)
    assert case.kind == "revocation" and case.permit_no == number and case.created_by == "api:esutd"
    from engine import instances
    data = instances.current_data(instances.peek(instances.get(case_id)))
    assert data["revocation"]["ground"] == "contract_terminated"
    assert data["revocation"]["initiator"] == {"type": "esutd", "id": "TD-778"}
    assert "2026-03-01" in data["revocation"]["details"]

    before = table_counts()
    again = _send(api, headers, "contract_terminated", number, payload, message_id="esutd-1")
    assert again.status_code == 200 and again.get_json()["case_id"] == case_id
    assert again.get_json()["duplicate"] is True and again.get_json()["status"] == "delivered"
    assert table_counts() == before

    other = _send(api, headers, "contract_terminated", number, payload, message_id="esutd-2")
    refused = problem(other, 409)
    assert refused["case_id"] == case_id and "already in progress" in refused["detail"]
    from flask import g
    g.__dict__.clear()  # as a real server: no language remembered from this test's earlier requests
    in_russian = _send(api, {**headers, "Accept-Language": "ru"}, "contract_terminated", number, payload,
                       message_id="esutd-3")
    assert "уже" in problem(in_russian, 409)["detail"]
    assert _receipt("esutd-2").status == "not_waiting"


def test_a_terminated_contract_of_an_unknown_permit_is_404_and_recorded(api, stub):
    headers = make_token()
    payload = {"terminated_on": "2026-03-01"}
    problem(_send(api, headers, "contract_terminated", "AST-2026-424242", payload), 404)
    assert _receipt("m-1").status == "not_found"
    assert _send(api, headers, "contract_terminated", "AST-2026-424242", payload).status_code == 200


def test_a_terminated_contract_without_a_deployed_revocation_procedure_is_503(api, api_app):
    number = issue_permit(api_app)
    headers = make_token()
    before = table_counts()
    problem(_send(api, headers, "contract_terminated", number, {"terminated_on": "2026-03-01"}), 503)
    assert table_counts() == before


def _receipt(message_id):
    """The receipt of a message this test's client sent (the service keys ids by client)."""
    import sqlalchemy as sa
    from engine.db import db
    return db.session.execute(sa.select(messages.MessageReceipt).where(
        messages.MessageReceipt.message_id.endswith(":" + message_id))).scalar_one_or_none()
