"""Applications and cases: submit (safely retried), read, list, withdraw."""
from __future__ import annotations

import hashlib
import json

from flask import current_app, url_for
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from engine import clock, definitions
from engine.db import db
from handlers import case_search, cases

from . import cursors, examples, present
from .operation import client, operation, require_region
from .problems import Problem, validation
from .schemas import (UUID, ApplicationSchema, CasePageSchema, CaseQuerySchema, CaseSchema, CaseSearchSchema,
                      WithdrawalSchema)



@operation("POST", "/applications", summary="Submit an application (issue or extension)", tag="cases",
           scopes=("applications:write",), body=ApplicationSchema, example=examples.APPLICATION,
           responses={201: (CaseSchema, "The case, run to its first wait"),
                      200: (CaseSchema, "This application number was submitted before with the same body: "
                                        "the same case")},
           errors=(409, 503),
           description="Starts the procedure for the application's kind. A malformed application is "
                       "refused with 422 and no case; a well-formed one with a defect on the merits "
                       "becomes a case that ends `not_accepted` or `refused`. Resending the same "
                       "`application_no` with the same body (compared canonically) answers 200 with "
                       "the same case; with a different body, 409.")
def submit_application(body):
    require_region(body["region"])
    application = present.jsonable(body)
    request_hash = hashlib.sha256(json.dumps(application, sort_keys=True, separators=(",", ":"),
                                             ensure_ascii=False).encode()).hexdigest()
    existing = cases.by_application_no(body["application_no"])
    if existing is not None:
        return _replay(existing, request_hash)
    process_id = procedure(body["kind"])
    applicant = body["applicant"]
    data = {"region": body["region"], "kind": body["kind"], "application": application,
            "filed_at": clock.now().isoformat()}
    try:
        case = cases.open_case(
            body["kind"], process_id, data, region=body["region"], created_by=client().actor,
            application_no=body["application_no"], request_hash=request_hash, channel=body["channel"],
            applicant_iin=applicant["iin"], applicant_name=_name(applicant), permit_no=body.get("permit_no"))
    except IntegrityError:  # the same number submitted concurrently: the first one won
        db.session.rollback()
        existing = cases.by_application_no(body["application_no"])
        if existing is None:
            raise
        return _replay(existing, request_hash)
    return present.case_view(case), 201, {"Location": url_for("api.get_case", case_id=case.id)}


@operation("GET", "/cases/<uuid:case_id>", summary="Read a case", tag="cases", scopes=("cases:read",),
           responses={200: (CaseSchema, "The case")})
def get_case(case_id):
    return present.case_view(_visible_case(str(case_id))), 200


@operation("GET", "/cases", summary="List cases, newest first", tag="cases", scopes=("cases:read",),
           query=CaseQuerySchema, responses={200: (CasePageSchema, "A page of cases")},
           description="Filters combine. A token limited to regions sees only their cases. Pages: "
                       "pass `next_cursor` as `cursor` until it is null.")
def list_cases(query):
    return _case_page(query)


@operation("POST", "/cases/search", summary="List cases, newest first, with the filters in the body",
           tag="cases", scopes=("cases:read",), body=CaseSearchSchema, body_required=False,
           example={"applicant_iin": examples.APPLICATION["applicant"]["iin"], "limit": 50},
           responses={200: (CasePageSchema, "A page of cases")},
           description="The same as GET /cases, for filters that are personal data (`applicant_iin`): "
                       "a body never reaches an access log or a browser history as a URL does.")
def search_cases(body):
    return _case_page(body)


def _case_page(query):
    if query.get("region"):
        require_region(query["region"])
    limit = query["limit"]
    if query.get("applicant_name"):
        return _name_page(query, limit)
    rows = cases.search(
        regions=client().regions, region=query.get("region"), status=query.get("status"),
        kind=query.get("kind"), outcome=query.get("outcome"), applicant_iin=query.get("applicant_iin"),
        created_from=query.get("created_from"), created_to=query.get("created_to"),
        after=_decode_cursor(query["cursor"]) if query.get("cursor") else None, limit=limit + 1)
    page = rows[:limit]
    next_cursor = cursors.encode(*page[-1][2]) if len(rows) > limit else None
    return {"items": [present.case_summary(case, status) for case, status, _ in page],
            "next_cursor": next_cursor}, 200


@operation("POST", "/cases/<uuid:case_id>/withdrawal", summary="Withdraw a case in progress", tag="cases",
           scopes=("applications:write",), body=WithdrawalSchema, body_required=False, example=examples.WITHDRAWAL,
           responses={200: (CaseSchema, "The case, ended with the outcome withdrawn (also when it "
                                        "was withdrawn before: retrying is safe)")},
           errors=(409,),
           description="The applicant withdraws: the case ends with the outcome `withdrawn`, any "
                       "quota unit it holds is released and its open tasks leave every inbox.")
def withdraw_case(case_id, body):
    case = _visible_case(str(case_id))
    try:
        cases.withdraw(case, client().actor, body.get("reason"))
    except ValueError as err:
        raise Problem(409, str(err)) from None
    return present.case_view(case), 200


# --- shared with the other areas --------------------------------------------------------------

def procedure(kind: str) -> str:
    """The deployed process for this kind of case; 503 while it is not deployed."""
    process_id = current_app.config["PROCEDURES"].get(kind)
    if not process_id or definitions.current(process_id, current_app.config["DEFINITION_CACHE_SECONDS"]) is None:
        raise Problem(503, gettext("the %(kind)s procedure (%(process)s) is not deployed; try again later",
                                   kind=kind, process=process_id))
    return process_id


def _visible_case(case_id: str):
    case = cases.get(case_id)
    if case is None:
        raise Problem(404, gettext("no case %(case)s", case=case_id))
    require_region(case.region)
    return case


def _replay(existing, request_hash: str):
    require_region(existing.region)  # first: another region's number tells nothing about its body
    if existing.request_hash != request_hash:
        raise Problem(409, gettext("the application number %(number)s was submitted before with a "
                                   "different body", number=existing.application_no))
    return present.case_view(existing), 200, {"Location": url_for("api.get_case", case_id=existing.id)}


def _name(person: dict) -> str:
    return " ".join(p for p in (person.get("last_name"), person.get("first_name"), person.get("patronymic")) if p)


def _name_page(query, limit):
    """The same page, of the cases whose applicant's name has the given words (handlers.case_search)."""
    filters = case_search.Filters(
        q=query["applicant_name"], status=query.get("status"), kind=query.get("kind"),
        outcome=query.get("outcome"), region=query.get("region"), filed_from=query.get("created_from"),
        filed_to=query.get("created_to"), regions=frozenset(client().regions) if client().regions else None)
    after = _decode_cursor(query["cursor"]) if query.get("cursor") else None
    if query.get("applicant_iin"):
        raise validation({"applicant_name": ["give either applicant_name or applicant_iin, not both"]})
    try:
        rows = case_search.find_by_name(filters, after=after, limit=limit + 1)
    except case_search.QueryError:
        raise validation({"applicant_name": ["give at least one word of two letters or more"]}) from None
    page = rows[:limit]
    next_cursor = cursors.encode(*page[-1][2]) if len(rows) > limit else None
    return {"items": [present.case_summary(case, status) for case, status, _ in page],
            "next_cursor": next_cursor}, 200


def _decode_cursor(cursor: str):
    return cursors.decode(cursor, "time", "uuid")
