"""GET /api/v1/cases/{id}/documents/{key}: a decision document, the bytes made at the decision.

PDF unless `?format=html` asks for the HTML view it was made from. Needs the `cases:read` scope
and a token that covers the case's region.
"""
from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext

from handlers import documents_pdf

from .cases import _visible_case
from .operation import operation
from .problems import Problem

FORMATS = ("pdf", "html")


@operation("GET", "/cases/<uuid:case_id>/documents/<key>", summary="Read a decision document (PDF or HTML)",
           tag="cases", scopes=("cases:read",),
           responses={200: (None, "The document: application/pdf, or text/html with ?format=html")},
           description="Keys: not_accepted_receipt (appendix 3), motivated_refusal (appendix 4), permit, "
                       "revocation_decision. The header X-Content-SHA256 is the digest the audit log "
                       "recorded when the document was made. 503 when its stored bytes are missing or altered "
                       "(never another document).")
def case_document(case_id, key):
    fmt = request.args.get("format", "pdf")
    if fmt not in FORMATS:
        raise Problem(422, gettext("format: must be pdf or html"), errors={"format": [gettext("must be pdf or html")]})
    case = _visible_case(str(case_id))
    issued = documents_pdf.stored_one(case.id, key)
    if issued is None:
        raise Problem(404, gettext("case %(case)s has no document %(key)s", case=case.id, key=key))
    try:
        body = issued.html if fmt == "html" else issued.pdf
    except documents_pdf.DocumentUnavailable:
        # Logged with the document's key and hash; the client is not given a different document.
        raise Problem(503, gettext("the document %(key)s of case %(case)s cannot be read intact from the "
                                   "document store; the error is logged for the operators", key=key, case=case.id))
    if fmt == "html":
        response = current_app.response_class(body, mimetype="text/html")
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    else:
        response = current_app.response_class(body, mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'inline; filename="{issued.key}.pdf"'
    response.headers["X-Content-SHA256"] = issued.sha256
    return response
