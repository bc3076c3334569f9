"""Analysts and administrators edit a procedure in the browser (bpmn-js Modeler), check it as
they edit with the deploy's own checks, and deploy it with a comment; the same rules as the
CLI and the API (engine.definitions.deploy: validation, then the scenarios)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from engine import catalogue as engine_catalogue
from engine import definitions as engine_definitions
from engine.db import db

from . import access, bp

ROLES = ("analyst", "admin")
MAX_TEXT = 2000


@bp.get("/modeler/<process_id>")
@access.role_required(*ROLES)
def modeler(process_id):
    row = engine_definitions.latest(process_id) or abort(404)
    functions = sorted(current_app.extensions.get("expression_functions", {}))
    return render_template("inbox/modeler.html", definition=row, helpers=functions,
                           lane_roles=current_app.config.get("LANE_ROLES") or {},
                           may_override=current_user.has_role("admin"))


@bp.get("/modeler/<process_id>/diagram.bpmn")
@access.role_required(*ROLES)
def modeler_diagram(process_id):
    row = engine_definitions.latest(process_id) or abort(404)
    return current_app.response_class(row.bpmn_xml, mimetype="application/xml")


@bp.get("/modeler/catalogue.json")
@access.role_required(*ROLES)
def modeler_catalogue():
    return jsonify(operators=engine_catalogue.operator_catalogue(),
                   forms=engine_catalogue.form_catalogue(current_app.config["FORMS_DIR"]))


@bp.post("/modeler/validate")
@access.role_required(*ROLES)
def modeler_validate():
    bpmn = _diagram()
    problems = engine_definitions.validate("modeler.bpmn", bpmn, engine_definitions.named_forms(
        bpmn, current_app.config), current_app.config)
    return jsonify(valid=not problems, problems=[p.as_dict() for p in problems])


@bp.post("/modeler/<process_id>/deploy")
@access.role_required(*ROLES)
def modeler_deploy(process_id):
    row = engine_definitions.latest(process_id) or abort(404)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("bpmn"), str) or not body["bpmn"].strip():
        return _refused(400, {"bpmn": [_("send the diagram as the JSON field bpmn")]})
    errors = {}
    texts = {}
    for name in ("comment", "override_reason"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            errors[name] = [_("must be text")]
        elif value and len(value) > MAX_TEXT:
            errors[name] = [_("at most %(n)s characters", n=MAX_TEXT)]
        texts[name] = (value or "").strip() or None
    if not texts["comment"]:
        errors["comment"] = [_("say why this version is deployed")]
    if texts["override_reason"] and not current_user.has_role("admin"):
        errors["override_reason"] = [_("only an administrator may deploy over failing scenarios")]
    if errors:
        return _refused(422, errors)
    bpmn = body["bpmn"].encode("utf-8")
    try:
        results = engine_definitions.deploy(row.filename, bpmn, engine_definitions.named_forms(
            bpmn, current_app.config), current_app.config, actor=current_user.username,
            comment=texts["comment"], override_reason=texts["override_reason"])
    except engine_definitions.GateRefused as err:
        db.session.rollback()
        return jsonify(deployed=[], problems=[], scenarios=[r.as_dict() for r in err.refusals]), 422
    except engine_definitions.DeployError as err:
        db.session.rollback()
        return jsonify(deployed=[], problems=[p.as_dict() for p in err.problems], scenarios=[]), 422
    return jsonify(deployed=[{"process_id": r.process_id, "version": r.version, "created": r.created}
                             for r in results]), 201 if any(r.created for r in results) else 200


def _diagram() -> bytes:
    raw = request.get_data(cache=False)
    if not raw.strip():
        abort(_refused(400, {"bpmn": [_("send the diagram as the request body")]}))
    return raw


def _refused(status, errors):
    response = jsonify(errors=errors)
    response.status_code = status
    return response


def newest_versions():
    return list(db.session.execute(sa.select(engine_definitions.ProcessDefinition.process_id).distinct()
                                   .order_by(engine_definitions.ProcessDefinition.process_id)).scalars())
