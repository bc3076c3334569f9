"""The case page: status, outcome, permit, deadlines, documents, the live diagram, the timeline."""
from __future__ import annotations

from flask import Response, abort, render_template

from engine import tasks

from . import access, bp, casefile
from .permits import permit_of


@bp.get("/cases/<instance_id>")
def case(instance_id):
    row = access.visible_instance(instance_id)
    file = casefile.load(row)
    states = casefile.diagram_states(file)
    actor = access.actor()
    return render_template(
        "inbox/case.html", file=file, outcome=file.outcome,
        grounds=casefile.outcome_grounds(file.outcome), permit=casefile.permit_view(permit_of(file)),
        deadlines=casefile.deadlines(file), documents=casefile.documents(file),
        timeline=casefile.timeline(row.id), states=states,
        current_steps=casefile.step_names(file, states["current"]),
        incident_steps=casefile.step_names(file, states["incident"]),
        open_tasks=[(t, actor.may_work_on(t)) for t in file.open_tasks],
        identity=casefile.identity_comparison(file.data), checks=casefile.checks(file.data),
        other=casefile.other_data(file.data), definition=casefile.definition_for(row),
        ready=tasks.READY)


@bp.get("/cases/<instance_id>/diagram.bpmn")
def case_diagram(instance_id):
    row = access.visible_instance(instance_id)
    definition = casefile.definition_for(row)
    if definition is None:
        abort(404)
    return Response(definition.bpmn_xml, mimetype="application/xml")


@bp.get("/cases/<instance_id>/documents/<key>")
def case_document(instance_id, key):
    row = access.visible_instance(instance_id)
    found = casefile.document(casefile.load(row), key)
    if found is None:
        abort(404)
    response = Response(found["html"], mimetype="text/html")
    # The document is our own escaped template, still shown without scripts or forms.
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; "
                                                   "img-src data:; sandbox allow-modals")
    return response
