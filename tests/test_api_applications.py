"""POST /applications: a well-formed application becomes a case; a malformed one is refused with
422 and nothing is written; resending is safe (docs/law.md §8, issue 8)."""
import hashlib
import json

import pytest
import time_machine

from engine import audit
from engine.db import db
from handlers import cases
from tests.test_api_support import (  # noqa: F401  fixtures
    APPLICANT_IIN, STUB_PROCESS, api, api_app, application, conforms, make_token, problem, stub,
    submit, table_counts, today)
from tests.permit_support import almaty as almaty_moment


def test_a_well_formed_application_becomes_a_case_run_to_its_first_wait(api, stub):
    headers = make_token()
    response = submit(api, headers)
    assert response.status_code == 201, response.get_json()
    conforms(response, "/applications", "post")
    case = response.get_json()
    assert response.headers["Location"] == f"/api/v1/cases/{case['case_id']}"
    assert case["kind"] == "issue" and case["application_no"] == "EGOV-2026-000001"
    assert case["region"] == "AST" and case["channel"] == "egov"
    assert case["status"] == "in_progress" and case["outcome"] is None and case["permit"] is None
    assert case["current_steps"][0]["name"] == "Wait for the police answer"
    assert case["current_steps"][0]["lane"] == "System"
    assert case["current_steps"][0]["due_at"] is not None  # the police silence timer
    assert {d["name"] for d in case["deadlines"]} == {"decision", "police"}
    assert all(d["met"] is None for d in case["deadlines"])
    assert case["history"][0]["event"] == "instance_started"
    assert case["history"][0]["actor"] == "api:portal"


def test_the_procedure_receives_the_validated_application_and_the_filing_time(api, stub):
    from engine import instances
    body = application()
    response = submit(api, make_token(), body)
    data = instances.current_data(instances.peek(instances.get(response.get_json()["case_id"])))
    assert data["region"] == "AST" and data["kind"] == "issue"
    assert data["case_id"] == response.get_json()["case_id"]
    assert data["application"]["applicant"]["iin"] == APPLICANT_IIN
    assert data["application"]["period"] == body["period"]
    assert data["application"]["applicant"]["patronymic"] is None  # defaults filled in
    assert data["filed_at"].endswith("+00:00")


def test_resending_the_same_application_answers_the_same_case(api, stub):
    headers = make_token()
    body = application()
    first = submit(api, headers, body)
    before = table_counts()
    again = submit(api, headers, body)
    assert again.status_code == 200
    conforms(again, "/applications", "post")
    assert again.get_json()["case_id"] == first.get_json()["case_id"]
    assert table_counts() == before


def test_the_same_body_with_its_keys_in_another_order_is_the_same_application(api, stub):
    headers = make_token()
    body = application()
    first = submit(api, headers, body)
    reordered = json.loads(json.dumps(body, sort_keys=True))
    reordered = dict(reversed(list(reordered.items())))
    again = api.post("/api/v1/applications", data=json.dumps(reordered, indent=3),
                     content_type="application/json", headers=headers)
    assert again.status_code == 200
    assert again.get_json()["case_id"] == first.get_json()["case_id"]


def test_the_same_number_with_another_body_is_a_conflict_and_writes_nothing(api, stub):
    headers = make_token()
    submit(api, headers)
    before = table_counts()
    response = submit(api, headers, **{"period.months": 7})
    problem(response, 409)
    conforms(response, "/applications", "post")
    assert table_counts() == before


def test_the_request_hash_is_the_sha256_of_the_canonical_validated_body(api, stub):
    body = application()
    response = submit(api, make_token(), body)
    case = cases.get(response.get_json()["case_id"])
    loaded = dict(body, permit_no=None, signatures=None)
    loaded["applicant"] = dict(body["applicant"], patronymic=None)
    loaded["tax_payment"] = dict(body["tax_payment"],
                                 paid_at=body["tax_payment"]["paid_at"].replace("Z", "+00:00"))
    canonical = json.dumps(loaded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert case.request_hash == hashlib.sha256(canonical.encode()).hexdigest()


def test_an_extension_needs_the_permit_number_and_the_signatures(api, stub):
    headers = make_token()
    response = submit(api, headers, kind="extension")
    errors = problem(response, 422)["errors"]
    assert errors == {"permit_no": ["required for an extension"], "signatures": ["required for an extension"]}
    body = application(kind="extension", application_no="EGOV-EXT-1", permit_no="AST-2026-000001",
                       signatures={"applicant": "2026-01-05T10:00:00+05:00", "employer": None})
    response = submit(api, headers, body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["kind"] == "extension"
    assert cases.get(response.get_json()["case_id"]).permit_no == "AST-2026-000001"


def test_an_issue_application_may_not_name_a_permit(api, stub):
    response = submit(api, make_token(), permit_no="AST-2026-000001")
    assert problem(response, 422)["errors"] == {"permit_no": ["only for an extension"]}


MALFORMED = [
    ("kind", "renewal", "kind"),
    ("channel", "fax", "channel"),
    ("region", "XYZ", "region"),
    ("region", 5, "region"),
    ("application_no", "", "application_no"),
    ("application_no", "x" * 65, "application_no"),
    ("applicant.iin", "900312300015", "applicant.iin"),  # wrong check digit
    ("applicant.iin", "90031230001", "applicant.iin"),  # 11 digits
    ("applicant.iin", 900312300014, "applicant.iin"),  # a number
    ("applicant.citizenship", "Uzbekistan", "applicant.citizenship"),
    ("applicant.birth_date", "1990-02-30", "applicant.birth_date"),  # no such day
    ("applicant.birth_date", "12.03.1990", "applicant.birth_date"),
    ("applicant.birth_date", "2999-01-01", "applicant.birth_date"),  # in the future
    ("applicant.last_name", "   ", "applicant.last_name"),
    ("applicant.last_name", "K" * 101, "applicant.last_name"),
    ("applicant.last_name", "Kari\x00mov", "applicant.last_name"),
    ("applicant.passport_expiry", "2000-01-01", "applicant.passport_expiry"),  # before entry
    ("applicant.nickname", "Aziz", "applicant.nickname"),  # unknown field
    ("employer.iin", "750705400015", "employer.iin"),
    ("employer.full_name", None, "employer.full_name"),
    ("period.months", 0, "period.months"),
    ("period.months", 13, "period.months"),
    ("period.months", 6.0, "period.months"),
    ("period.months", "6", "period.months"),
    ("period.months", True, "period.months"),
    ("tax_payment.amount_kzt", -1, "tax_payment.amount_kzt"),
    ("tax_payment.amount_kzt", 100.5, "tax_payment.amount_kzt"),
    ("tax_payment.paid_at", "2026-01-05T10:00:00", "tax_payment.paid_at"),  # no zone
    ("tax_payment.paid_at", "2999-01-05T10:00:00+05:00", "tax_payment.paid_at"),
    ("tax_payment.payer_iin", "123", "tax_payment.payer_iin"),
    ("documents.0.type", "diploma", "documents.0.type"),
    ("documents.1.valid_until", "1999-01-01", "documents.1.valid_until"),  # before its issue
    ("documents", "none", "documents"),
    ("applicant", ..., "applicant"),  # missing
    ("surprise", 1, "surprise"),
]


@pytest.mark.parametrize("path,value,error_path", MALFORMED,
                         ids=[f"{p}={v!r}"[:60] for p, v, _ in MALFORMED])
def test_a_malformed_application_is_refused_with_422_and_no_case(api, stub, path, value, error_path):
    headers = make_token()
    before = table_counts()
    response = submit(api, headers, **{path: value})
    body = problem(response, 422)
    conforms(response, "/applications", "post")
    assert error_path in body["errors"], body["errors"]
    assert body["type"] == "/api/v1/docs#problem-validation"
    assert table_counts() == before


def test_a_defect_on_the_merits_is_not_malformed(api, stub):
    """An expired document, an ineligible citizenship, too little tax: the case exists (§8)."""
    now = today()
    response = submit(api, make_token(), **{
        "applicant.citizenship": "RU", "tax_payment.amount_kzt": 1,
        "documents.0.valid_until": now.replace(year=now.year - 1).isoformat(),
        "documents.0.issued_at": now.replace(year=now.year - 3).isoformat()})
    assert response.status_code == 201, response.get_json()


def test_an_application_outside_the_token_regions_is_forbidden(api, stub):
    headers = make_token(regions=["ALA"])
    before = table_counts()
    problem(submit(api, headers), 403)
    assert table_counts() == before


def test_submitting_needs_the_applications_scope(api, stub):
    problem(submit(api, make_token(scopes=["cases:read"])), 403)


def test_without_a_deployed_procedure_the_service_is_unavailable_and_nothing_is_written(api):
    headers = make_token()
    before = table_counts()
    body = problem(submit(api, headers), 503)
    assert STUB_PROCESS in body["detail"]
    assert table_counts() == before


def test_a_body_that_is_not_json_is_415_or_400(api, stub):
    headers = make_token()
    response = api.post("/api/v1/applications", data="kind=issue", headers=headers,
                        content_type="application/x-www-form-urlencoded")
    problem(response, 415)
    response = api.post("/api/v1/applications", data="{not json", headers=headers,
                        content_type="application/json")
    problem(response, 400)
    response = api.post("/api/v1/applications", data="[1, 2]", headers=headers,
                        content_type="application/json")
    assert problem(response, 422)["errors"] == {"": ["the body must be a JSON object"]}


def test_a_body_over_one_mebibyte_is_413(api, stub):
    headers = make_token()
    body = application(**{"applicant.last_name": "x" * (1024 * 1024)})
    before = table_counts()
    response = api.post("/api/v1/applications", data=json.dumps(body), headers=headers,
                        content_type="application/json")
    problem(response, 413)
    assert table_counts() == before


def test_the_submission_is_audited_with_the_client_name(api, stub):
    response = submit(api, make_token(name="egov-portal"))
    events = audit.trail(response.get_json()["case_id"])
    assert events[0].event == "instance_started" and events[0].actor == "api:egov-portal"


def test_two_applications_make_two_cases(api, stub):
    headers = make_token()
    a = submit(api, headers).get_json()["case_id"]
    b = submit(api, headers, application_no="EGOV-2026-000002").get_json()["case_id"]
    assert a != b
    assert db.session.get(cases.Case, b).application_no == "EGOV-2026-000002"


def test_nan_and_infinity_are_not_json(api, stub):
    response = api.post("/api/v1/applications", headers=make_token(), content_type="application/json",
                        data=json.dumps(application()).replace('"amount_kzt": 103800', '"amount_kzt": NaN'))
    assert "NaN" in problem(response, 400)["detail"]


def test_a_permit_period_starting_before_the_day_of_filing_is_refused_422_naming_the_field(api, stub):
    headers = make_token()
    before = table_counts()
    with time_machine.travel(almaty_moment(2026, 11, 28, 0, 30), tick=False):  # Almaty's day, still 27.11 in UTC
        yesterday = submit(api, headers, **{"period.start_date": "2026-11-27"})
        body = problem(yesterday, 422)
        assert "period.start_date" in body["errors"]
        assert "before the day of filing (2026-11-28" in body["errors"]["period.start_date"][0]
        assert table_counts() == before, "no case exists"
        today = submit(api, headers, **{"period.start_date": "2026-11-28"})
        assert today.status_code == 201, today.get_json()
def test_an_application_may_name_the_applicants_language_of_notifications(api, stub):
    from engine import instances
    response = submit(api, make_token(), application(language="kk"))
    assert response.status_code == 201, response.get_json()
    data = instances.current_data(instances.peek(instances.get(response.get_json()["case_id"])))
    assert data["application"]["language"] == "kk"


def test_a_language_other_than_kazakh_or_russian_is_refused_naming_the_field(api, stub):
    headers = make_token()
    before = table_counts()
    body = problem(submit(api, headers, application(language="de")), 422)
    assert "language" in body["errors"] and table_counts() == before
