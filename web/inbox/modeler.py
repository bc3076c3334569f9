"""Analysts and administrators edit a procedure in the browser (bpmn-js Modeler), check it as
they edit with the deploy's own checks, and deploy it with a comment; the same rules as the
CLI and the API (engine.definitions.deploy: validation, then the scenarios)."""
from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from flask import abort, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from engine import catalogue as engine_catalogue
from engine import definitions as engine_definitions
from engine import diagram_diff
from engine.db import db
from handlers.i18n import N_

from . import access, schema_form
from .blueprint import bp

ROLES = ("analyst", "admin")
MAX_TEXT = 2000


@bp.get("/modeler/<process_id>")
@access.role_required(*ROLES)
def modeler(process_id):
    row = engine_definitions.latest(process_id) or abort(404)
    functions = sorted(current_app.extensions.get("expression_functions", {}))
    versions = list(db.session.execute(sa.select(engine_definitions.ProcessDefinition).filter_by(
        process_id=row.process_id).order_by(engine_definitions.ProcessDefinition.version.desc())).scalars())
    return render_template("inbox/modeler.html", definition=row, helpers=functions,
                           lane_roles=current_app.config.get("LANE_ROLES") or {},
                           may_override=current_user.has_role("admin"), versions=versions,
                           labels={key: _(text) for key, text in LABELS.items()},
                           lint_rules={key: _(text) for key, text in LINT_RULES.items()})


@bp.get("/modeler/<process_id>/diff.json")
@access.role_required(*ROLES)
def modeler_diff(process_id):
    """The changes from one version of the process to another: added, removed, changed elements."""
    engine_definitions.latest(process_id) or abort(404)
    errors, rows = {}, {}
    for side in ("from", "to"):
        raw = request.args.get(side, "").strip()
        if not raw:
            errors[side] = [_("give the version number")]
        elif not raw.isdigit() or len(raw) > 9:
            errors[side] = [_("must be a whole number")]
        else:
            rows[side] = db.session.execute(sa.select(engine_definitions.ProcessDefinition).filter_by(
                process_id=process_id, version=int(raw))).scalar_one_or_none()
            if rows[side] is None:
                errors[side] = [_("%(process)s has no version %(version)s", process=process_id, version=raw)]
    if errors:
        return _refused(404 if all(k in rows for k in errors) else 400, errors)
    changes = diagram_diff.compare(rows["from"].bpmn_xml, rows["to"].bpmn_xml)
    for item in changes["changed"]:
        for change in item["changes"]:
            change["label"] = _(CHANGE_FIELDS[change["field"]]) if change["field"] in CHANGE_FIELDS \
                else _("attribute %(name)s", name=change["field"])
    return jsonify(process_id=process_id, **{"from": rows["from"].version, "to": rows["to"].version}, **changes)


@bp.get("/modeler/form-preview")
@access.role_required(*ROLES)
def modeler_form_preview():
    """The form as the inbox draws it on a task page (same fields, same widgets), not submittable."""
    name = request.args.get("form", "").strip()
    if not name:
        return _refused(400, {"form": [_("give the form's file name")]})
    if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".json") or len(name) > 200:
        return _refused(400, {"form": [_("must be the file name of a form, such as decision.schema.json")]})
    path = Path(current_app.config["FORMS_DIR"]) / name
    if not path.is_file():
        return _refused(404, {"form": [_("there is no form %(name)s", name=name)]})
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _refused(422, {"form": [_("the form %(name)s is not valid JSON", name=name)]})
    if not isinstance(schema, dict):
        return _refused(422, {"form": [_("the form %(name)s is not a JSON Schema object", name=name)]})
    fields, _unplaced = schema_form.fields(schema)
    return render_template("inbox/_form_preview.html", schema=schema, fields=fields, name=name)


@bp.get("/modeler/<process_id>/diagram.bpmn")
@access.role_required(*ROLES)
def modeler_diagram(process_id):
    row = engine_definitions.latest(process_id) or abort(404)
    return current_app.response_class(row.bpmn_xml, mimetype="application/xml")


@bp.get("/modeler/<process_id>/versions/<int(max=2147483647):version>/diagram.bpmn")
@access.role_required(*ROLES)
def modeler_version_diagram(process_id, version):
    row = db.session.execute(sa.select(engine_definitions.ProcessDefinition).filter_by(
        process_id=process_id, version=version)).scalar_one_or_none() or abort(404)
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


# The page's own words, handed to index.js as a JSON dictionary in the officer's language.
LABELS = {
    "operator": N_("Operator"),
    "operator_external": N_("calls another system: runs as a job"),
    "operator_pick": N_("Pick the operator this service task calls (from the live catalogue)."),
    "none": N_("(none)"),
    "optional": N_("optional"),
    "expression_over_case": N_("A Python expression over the case data"),
    "not_in_signature": N_("not in the operator's signature"),
    "result_variable": N_("Result variable"),
    "receives": N_("Receives"),
    "form": N_("Form"),
    "lane": N_("Lane"),
    "role": N_("role"),
    "no_lane_role": N_("none (configure LANE_ROLES)"),
    "fields": N_("Fields"),
    "preview_form": N_("Preview the form"),
    "preview_title": N_("The form as the officer sees it"),
    "preview_failed": N_("The form cannot be shown"),
    "python_expression": N_("Python expression"),
    "helpers": N_("Helpers"),
    "condition": N_("Condition"),
    "timer": N_("Timer"),
    "script": N_("Script"),
    "group_service": N_("Service task (engine)"),
    "group_form": N_("Task form (engine)"),
    "group_expression": N_("Expression (engine)"),
    "no_problems": N_("No problems"),
    "problems": N_("Problems"),
    "server_check": N_("deploy check"),
    "lint_error": N_("modelling rule"),
    "lint_warning": N_("modelling advice"),
    "deployed": N_("Deployed %(process)s version %(version)s"),
    "unchanged": N_("%(process)s version %(version)s is unchanged"),
    "refused": N_("Refused"),
    "fix_pinned": N_("Refused: fix the problems pinned on the diagram"),
    "compare_nothing": N_("The two versions are the same."),
    "added": N_("added"),
    "removed": N_("removed"),
    "changed": N_("changed"),
    "compare_failed": N_("The versions cannot be compared"),
    "version": N_("version %(version)s"),
}

# bpmnlint's recommended rules the page applies, with what each one asks, in the officer's language.
LINT_RULES = {
    "ad-hoc-sub-process": N_("An ad hoc subprocess holds only activities, no start or end events"),
    "conditional-flows": N_("A flow leaving a task or a gateway with several ways needs a condition"),
    "end-event-required": N_("A process needs an end event"),
    "event-based-gateway": N_("An event-based gateway is followed by events only"),
    "event-sub-process-typed-start-event": N_("An event subprocess starts with a typed start event"),
    "global": N_("A message, signal or error is defined once"),
    "label-required": N_("The element needs a name"),
    "link-event": N_("Link events come in matching pairs"),
    "no-bpmndi": N_("Every element is drawn on the diagram"),
    "no-complex-gateway": N_("Complex gateways are not used"),
    "no-disconnected": N_("The element is connected to the flow"),
    "no-duplicate-sequence-flows": N_("Two flows join the same elements"),
    "no-gateway-join-fork": N_("A gateway either joins or splits, not both"),
    "no-implicit-split": N_("Split the flow with a gateway, not from a task"),
    "no-implicit-end": N_("The flow ends in an end event"),
    "no-implicit-start": N_("The flow starts from a start event"),
    "no-inclusive-gateway": N_("Inclusive gateways are not used"),
    "no-overlapping-elements": N_("Elements do not overlap"),
    "single-blank-start-event": N_("A process has at most one blank start event"),
    "single-event-definition": N_("An event has one definition"),
    "start-event-required": N_("A process needs a start event"),
    "sub-process-blank-start-event": N_("A subprocess starts with a blank start event"),
    "superfluous-gateway": N_("A gateway with one way in and one way out is superfluous"),
    "superfluous-termination": N_("A terminate end event is superfluous here"),
}

# What a change in the version comparison is about.
CHANGE_FIELDS = {
    "type": N_("kind of element"),
    "name": N_("name"),
    "sourceRef": N_("comes from"),
    "targetRef": N_("goes to"),
    "default": N_("default flow"),
    "conditionExpression": N_("condition"),
    "script": N_("script"),
    "extensionElements": N_("engine settings (operator, parameters, form)"),
    "timeDuration": N_("timer"),
    "timeDate": N_("timer"),
    "timeCycle": N_("timer"),
    "attachedToRef": N_("attached to"),
    "documentation": N_("documentation"),
}


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
