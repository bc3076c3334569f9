"""Permits: look-ups in the register, and revocations started by client systems."""
from __future__ import annotations

from flask import url_for
from flask_babel import gettext

from handlers import permits as register, revocations

from . import examples, present
from .cases import procedure
from .operation import client, operation, require_region
from .problems import Problem
from .schemas import (CaseSchema, PermitListSchema, PermitQuerySchema, PermitSchema,
                      PermitSearchSchema, RevocationSchema)


@operation("GET", "/permits/<permit_no>", summary="Read a permit by its number", tag="permits",
           scopes=("permits:read",), responses={200: (PermitSchema, "The permit, with its history")})
def get_permit(permit_no):
    return present.permit_view(_visible_permit(permit_no).as_dict()), 200


@operation("GET", "/permits", summary="The permits of a holder, newest first", tag="permits",
           scopes=("permits:read",), query=PermitQuerySchema,
           responses={200: (PermitListSchema, "Every permit of the holder (in the token's regions)")})
def list_permits(query):
    return _holder_permits(query)


@operation("POST", "/permits/search", summary="The permits of a holder, with the IIN in the body", tag="permits",
           scopes=("permits:read",), body=PermitSearchSchema, example={"holder_iin": examples.APPLICATION["applicant"]["iin"]},
           responses={200: (PermitListSchema, "Every permit of the holder (in the token's regions)")},
           description="The same as GET /permits, keeping the holder's IIN out of URLs and access logs.")
def search_permits(body):
    return _holder_permits(body)


def _holder_permits(query):
    me = client()
    found = [p for p in register.permits_by_holder(query["holder_iin"]) if me.covers(p.region)]
    return {"items": [present.permit_view(p.as_dict()) for p in found]}, 200


@operation("POST", "/permits/<permit_no>/revocations", summary="Start the revocation of a permit",
           tag="permits", scopes=("revocations:write",), body=RevocationSchema, example=examples.REVOCATION,
           responses={201: (CaseSchema, "The revocation case, run to its first wait")},
           errors=(409, 503),
           description="An officer confirms or dismisses the revocation in the revocation procedure. "
                       "409 when the permit is not active or a revocation of it is already in progress.")
def revoke_permit(permit_no, body):
    permit = _visible_permit(permit_no)
    process_id = procedure("revocation")
    try:
        case = revocations.open_revocation(permit, body["ground"], body.get("details"), _initiator(body["initiator"]),
                                           process_id=process_id, created_by=client().actor)
    except revocations.RevocationRefused as refused:
        raise refusal_problem(refused) from None
    return present.case_view(case), 201, {"Location": url_for("api.get_case", case_id=case.id)}


def refusal_problem(refused: revocations.RevocationRefused) -> Problem:
    """The conflict a refused revocation is answered with, in the reader's language."""
    if isinstance(refused, revocations.RevocationInProgress):
        return Problem(409, gettext("a revocation of the permit %(number)s is already in progress (case %(case)s)",
                                    number=refused.permit_no, case=refused.case_id), case_id=refused.case_id)
    if isinstance(refused, revocations.PermitNotActive):
        return Problem(409, gettext("the permit %(number)s is %(status)s, so it cannot be revoked",
                                    number=refused.permit_no, status=refused.status))
    return Problem(409, str(refused))


def _initiator(stated: dict) -> dict:
    """Who initiates: an officer is the officer this client authenticates as (four eyes compares
    that identity), never the id the body states; other initiators are as stated."""
    if stated["type"] != "officer":
        return stated
    me = client()
    if not me.role:
        raise Problem(403, "only a client acting as an officer (a token with a role) may initiate as an officer")
    return {"type": "officer", "id": me.officer().name}


def _visible_permit(permit_no: str):
    permit = revocations.find_permit(permit_no)
    if permit is None:
        raise Problem(404, gettext("no permit %(number)s", number=permit_no))
    require_region(permit.region)
    return permit
