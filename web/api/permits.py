"""Permits: look-ups in the register, and revocations started by client systems."""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext

from engine import clock, instances
from engine.db import db
from handlers import cases, permits as register

from . import examples, present
from .cases import procedure
from .operation import client, operation, require_region
from .problems import Problem
from .schemas import (PERMIT_NO, CaseSchema, PermitListSchema, PermitQuerySchema, PermitSchema,
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
    case = open_revocation(permit, body["ground"], body.get("details"), _initiator(body["initiator"]))
    return present.case_view(case), 201, {"Location": url_for("api.get_case", case_id=case.id)}


def open_revocation(permit, ground: str, details, initiator: dict, **case_fields):
    """Open a revocation case for an active permit with no revocation in progress."""
    process_id = procedure("revocation")
    if permit.status != register.ACTIVE:
        raise Problem(409, gettext("the permit %(number)s is %(status)s, so it cannot be revoked",
                                   number=permit.number, status=permit.status))
    pending = revocation_in_progress(permit.number)
    if pending is not None:
        raise Problem(409, gettext("a revocation of the permit %(number)s is already in progress (case %(case)s)",
                                   number=permit.number, case=pending), case_id=pending)
    data = {"region": permit.region, "kind": "revocation", "permit_no": permit.number,
            "revocation": {"ground": ground, "details": details,
                           "initiator": {"type": initiator["type"], "id": initiator["id"]}},
            "filed_at": clock.now().isoformat()}
    return cases.open_case("revocation", process_id, data, region=permit.region, created_by=client().actor,
                           permit_no=permit.number, applicant_iin=permit.holder_iin,
                           applicant_name=permit.holder_name, **case_fields)


def _initiator(stated: dict) -> dict:
    """Who initiates: an officer is the officer this client authenticates as (four eyes compares
    that identity), never the id the body states; other initiators are as stated."""
    if stated["type"] != "officer":
        return stated
    me = client()
    if not me.role:
        raise Problem(403, "only a client acting as an officer (a token with a role) may initiate as an officer")
    return {"type": "officer", "id": me.officer().name}


def revocation_in_progress(permit_no: str) -> str | None:
    return db.session.execute(
        sa.select(cases.Case.id).join(instances.ProcessInstance, instances.ProcessInstance.id == cases.Case.id)
        .where(cases.Case.kind == "revocation", cases.Case.permit_no == permit_no,
               cases.Case.outcome_code.is_(None),
               instances.ProcessInstance.status.in_((instances.IN_PROGRESS, instances.INCIDENT)))
        .limit(1)).scalar()


def find_permit(permit_no: str):
    if not re.match(PERMIT_NO, permit_no or ""):
        return None
    return register.get_permit(permit_no)


def _visible_permit(permit_no: str):
    permit = find_permit(permit_no)
    if permit is None:
        raise Problem(404, gettext("no permit %(number)s", number=permit_no))
    require_region(permit.region)
    return permit
