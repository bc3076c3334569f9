"""The case page: status, outcome, permit, deadlines, documents, the live diagram, the timeline."""
from __future__ import annotations

from flask import Response, abort, render_template, request
from flask_babel import gettext

from engine import audit_archive, tasks
from engine.db import db
from handlers import documents_pdf

from . import access, casefile
from .blueprint import bp
from .display import translated_diagram
from .permits import permit_of


@bp.get("/cases/<instance_id>")
def case(instance_id):
    row = access.visible_instance(instance_id)
    file = casefile.load(row)
    states = casefile.diagram_states(file)
    actor = access.actor()
    return render_template(
        "inbox/case.html", file=file, outcome=file.outcome,
        grounds=casefile.outcome_grounds(file), permit=casefile.permit_view(permit_of(file)),
        deadlines=casefile.deadlines(file), documents=casefile.documents(file),
        timeline=casefile.timeline(row.id, file.view.trail, file.view.element_names),
        archived_until=audit_archive.archived_since(row.created_at), states=states,
        current_steps=casefile.step_names(file, states["current"]),
        incident_steps=casefile.step_names(file, states["incident"]),
        open_tasks=[(t, actor.may_work_on(t)) for t in file.open_tasks],
        identity=casefile.identity_comparison(file.data), checks=casefile.checks(file.data),
        other=casefile.other_data(file.data, row.id), definition=casefile.definition_for(row),
        ready=tasks.READY, decided_by=decided_by(file.outcome))


def decided_by(outcome) -> str | None:
    """Who decided, as the documents name them: full name and position, or an automatic decision."""
    if not outcome:
        return None
    found = documents_pdf.signer(db.session, outcome.get("decided_by"), {})
    if not found["name"]:
        return gettext(documents_pdf.AUTOMATIC_DECISION)
    english = found["position"]
    position = gettext(english) if english else None
    return f"{found['name']}, {position}" if position else found["name"]


@bp.get("/cases/<instance_id>/diagram.bpmn")
def case_diagram(instance_id):
    row = access.visible_instance(instance_id)
    definition = casefile.definition_for(row)
    if definition is None:
        abort(404)
    return Response(translated_diagram(definition.bpmn_xml), mimetype="application/xml")


@bp.get("/cases/<instance_id>/documents/<key>")
def case_document(instance_id, key):
    row = access.visible_instance(instance_id)
    issued = documents_pdf.stored_one(row.id, key)
    if request.args.get("format") == "pdf":
        if issued is None:
            abort(404)
        return pdf_response(issued)
    if issued is not None:
        try:
            html = issued.html
        except documents_pdf.DocumentUnavailable:
            return document_unavailable()
    else:  # a document the procedure kept in the case data, or the one its outcome calls for
        found = casefile.document(casefile.load(row), key)
        if found is None:
            abort(404)
        html = found["html"]
    response = Response(html, mimetype="text/html")
    # The document is our own escaped template, still shown without scripts or forms.
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; "
                                                   "img-src data:; sandbox allow-modals")
    return response


def pdf_response(issued) -> Response:
    """The stored bytes, as made at the decision; the digest lets a reader check them."""
    try:
        response = Response(issued.pdf, mimetype="application/pdf")
    except documents_pdf.DocumentUnavailable:
        return document_unavailable()
    response.headers["Content-Disposition"] = f'inline; filename="{issued.key}-{issued.instance_id[:8]}.pdf"'
    response.headers["X-Content-SHA256"] = issued.sha256
    return response


def document_unavailable():
    """A document whose stored bytes are missing or altered: said so (logged with its hash), never
    replaced by other bytes."""
    return render_template("inbox/error.html", title=gettext("Document unavailable"),
                           message=gettext("This document cannot be read intact from the document store. "
                                           "The error is logged for the operators; please tell your administrator.")), 503
