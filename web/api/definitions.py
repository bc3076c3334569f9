"""Process definitions: list them, deploy a BPMN file with its forms, or only validate it."""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from engine import definitions
from engine.db import db

from .operation import MULTIPART, client, operation
from .problems import Problem
from .schemas import DefinitionListSchema, DefinitionQuerySchema, DeploymentSchema, ValidationReportSchema

UPLOAD_FIELDS = {"bpmn": (True, False), "forms": (False, True)}
UPLOAD_TEXT = {"comment": (2000, "Why this version is deployed, for the version history"),
               "override_reason": (2000, "Administrators only: deploy although scenarios went another way, "
                                         "and why (audited)")}
UPLOAD_DOC = {"bpmn": "The BPMN 2.0 file (with its diagram interchange)",
              "forms": "The JSON Schema form files the diagram names (formJsonSchemaFilename), by file name"}


@operation("GET", "/process-definitions", summary="Deployed processes (newest version of each)",
           tag="definitions", scopes=("instances:write", "definitions:write"), query=DefinitionQuerySchema,
           responses={200: (DefinitionListSchema, "The definitions")})
def list_definitions(query):
    if query.get("process_id"):
        rows = db.session.execute(sa.select(definitions.ProcessDefinition)
                                  .filter_by(process_id=query["process_id"])
                                  .order_by(definitions.ProcessDefinition.version.desc())).scalars()
    else:
        rows = definitions.all_latest()
    return {"items": [r.as_dict() for r in rows]}, 200


@operation("POST", "/process-definitions", summary="Deploy a BPMN file and its forms", tag="definitions",
           scopes=("definitions:write",), body=MULTIPART, multipart_fields=UPLOAD_FIELDS,
           multipart_text=UPLOAD_TEXT,
           responses={201: (DeploymentSchema, "Deployed as a new version"),
                      200: (DeploymentSchema, "This exact content was deployed before: nothing changed")},
           description="A diagram that fails validation is refused with 422 naming every problem "
                       "(`errors` by element id, and `problems`); nothing is deployed then. A valid new "
                       "version is first replayed against the scenarios (processes/scenarios) in a "
                       "rolled-back rehearsal: one that goes another way refuses it with 422 naming "
                       "each scenario and step (`scenarios`), unless an administrator's token gives "
                       "`override_reason` (audited).")
def deploy_definition(upload):
    filename, bpmn, forms = _files(upload)
    if upload["override_reason"] and client().role != "admin":
        raise Problem(403, "only an administrator may override failing scenarios (override_reason)")
    try:
        results = definitions.deploy(filename, bpmn, forms, current_app.config, actor=client().actor,
                                     comment=upload["comment"], override_reason=upload["override_reason"])
    except definitions.GateRefused as err:
        raise Problem(422, f"the new version would decide {len(err.refusals)} scenario(s) another way: "
                           + "; ".join(str(r) for r in err.refusals),
                      errors={r.scenario: [str(r)] for r in err.refusals},
                      scenarios=[r.as_dict() for r in err.refusals]) from None
    except definitions.DeployError as err:
        raise _refused(err.problems) from None
    created = any(r.created for r in results)
    return {"deployed": [{"process_id": r.process_id, "version": r.version, "created": r.created,
                          "definition_id": r.definition_id} for r in results]}, 201 if created else 200


@operation("POST", "/process-definitions/validate", summary="Validate a BPMN file and its forms; deploys nothing",
           tag="definitions", scopes=("definitions:write",), body=MULTIPART, multipart_fields=UPLOAD_FIELDS,
           responses={200: (ValidationReportSchema, "Every problem found (none: it would deploy)")})
def validate_definition(upload):
    filename, bpmn, forms = _files(upload)
    problems = definitions.validate(filename, bpmn, forms, current_app.config)
    return {"valid": not problems, "problems": [p.as_dict() for p in problems]}, 200


@operation("GET", "/process-definitions/<int(max=2147483647):definition_id>/bpmn",
           summary="Download the BPMN file of one deployed version", tag="definitions",
           scopes=("instances:write", "definitions:write"),
           responses={200: (None, "The BPMN XML as deployed (application/xml)")}, errors=(404,))
def download_definition(definition_id):
    row = definitions.get(definition_id)
    if row is None:
        raise Problem(404, f"no process definition {definition_id}")
    return current_app.response_class(row.bpmn_xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{row.process_id}-v{row.version}.bpmn"'})


def _files(upload):
    filename, bpmn = upload["bpmn"][0]
    if filename == "bpmn":
        filename = "upload.bpmn"
    forms = dict(upload["forms"])
    return filename, bpmn, forms


def _refused(problems) -> Problem:
    errors: dict[str, list[str]] = {}
    for p in problems:
        errors.setdefault(p.element_id, []).append(p.reason)
    return Problem(422, gettext("the diagram was refused: %(count)s problem(s)", count=len(problems)), errors=errors,
                   problems=[p.as_dict() for p in problems])
