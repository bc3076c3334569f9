"""Errors as `application/problem+json` (RFC 9457), and the guarantee that an error writes nothing.

Every answer of the API that is not a success is a problem document: `type` (a reference to the
problem's description on the docs page), `title`, `status`, `detail`; a validation problem adds
`errors` {dotted field path: [messages]}. Before a problem is answered the request's
transaction is rolled back, so nothing a failed call started is ever committed. The body is
dumped through ProblemSchema, the schema the document gives for every problem.
"""
from __future__ import annotations

import json

from flask import current_app, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from engine.db import db
from engine.exceptions import EngineError, InvalidData
from handlers.i18n import N_

from .. import availability
from .schemas import ProblemSchema
from .shapes import ResponseShapeError, dump

MEDIA_TYPE = "application/problem+json"
API_PREFIX = "/api/v1"

# slug -> (status, title, when it happens); the docs page describes each under #problem-<slug>.
PROBLEM_TYPES = {
    "bad-request": (400, N_("Bad request"), "The body is not JSON, or a multipart upload is broken."),
    "unauthorized": (401, N_("Unauthorized"), "No bearer token, or the token is unknown or revoked."),
    "forbidden": (403, N_("Forbidden"),
                  "The token lacks the scope this operation needs, or the resource is in a region "
                  "the token does not cover, or the officer rules do not allow the action."),
    "not-found": (404, N_("Not found"), "No such resource (or the token may not see it)."),
    "method-not-allowed": (405, N_("Method not allowed"), "The path exists, the method does not."),
    "conflict": (409, N_("Conflict"),
                 "The resource is not in a state that allows this (a case that no longer waits, a "
                 "task already claimed, an application number used with another body)."),
    "payload-too-large": (413, N_("Payload too large"), "The body is larger than the service accepts (1 MiB)."),
    "unsupported-media-type": (415, N_("Unsupported media type"),
                               "The body is not `application/json` (or `multipart/form-data` for uploads)."),
    "validation": (422, N_("Validation failed"),
                   "The request is malformed: a field of the wrong type, an unknown field, a value "
                   "outside its enumeration or range, an IIN with a wrong check digit, an impossible "
                   "or disordered date. Nothing was created. `errors` lists each field."),
    "internal": (500, N_("Internal error"), "The service failed; nothing was written. Retry later."),
    "unavailable": (503, N_("Service unavailable"),
                    "The procedure this request needs is not deployed, or the database is unreachable, or a "
                    "decision document's stored bytes are missing or altered (never served otherwise)."),
}
_SLUG_BY_STATUS = {status: slug for slug, (status, _, _) in PROBLEM_TYPES.items()}


class Problem(Exception):
    """An error answer of the API; raise it from a view."""

    def __init__(self, status: int, detail: str, *, slug: str | None = None,
                 errors: dict[str, list[str]] | None = None, headers: dict | None = None, **extra):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _SLUG_BY_STATUS.get(status, "bad-request")
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


def validation(errors: dict[str, list[str]], detail: str = N_("the request has errors")) -> Problem:
    return Problem(422, detail, errors=errors)


def response(problem: Problem):
    _, title, _ = PROBLEM_TYPES.get(problem.slug, (problem.status, "Error", ""))
    # Title and detail in the client's Accept-Language (web/i18n.py); a detail the catalogue
    # lacks (one naming a value) stays as written.
    body = {"type": f"{API_PREFIX}/docs#problem-{problem.slug}", "title": gettext(title),
            "status": problem.status, "detail": gettext(str(problem.detail)) if problem.detail else "",
            "instance": request.path}
    if problem.errors is not None:
        body["errors"] = problem.errors
    body.update(problem.extra)
    try:
        body = dump(ProblemSchema, body, f"problem {problem.status}")
    except ResponseShapeError:  # the problem is still answered, with what the document promises
        current_app.logger.exception("a problem body off its schema")
        body = {key: body[key] for key in ("type", "title", "status", "detail", "instance")}
    resp = current_app.response_class(json.dumps(body, ensure_ascii=False), status=problem.status,
                                      mimetype=MEDIA_TYPE)
    for key, value in problem.headers.items():
        resp.headers[key] = value
    from web.i18n import current_language
    resp.headers["Content-Language"] = current_language()
    return resp


def init_blueprint(bp) -> None:
    """Problems for every error raised in an API view."""
    bp.register_error_handler(Problem, _on_problem)
    bp.register_error_handler(EngineError, _on_engine_error)
    bp.register_error_handler(ResponseShapeError, _on_shape_error)
    bp.register_error_handler(HTTPException, _on_http_error)
    bp.register_error_handler(Exception, _on_unexpected)


def init_app(app) -> None:
    """Unmatched paths and methods never reach a blueprint: the app-wide handler answers them for
    API paths and leaves every other path to Flask's default (or the inbox's own handlers)."""
    app.register_error_handler(HTTPException, _on_http_error_anywhere)
    availability.answer_unavailable_under(
        "/api/", lambda detail, headers: response(Problem(503, detail, headers=headers)))


def _on_problem(err: Problem):
    _rollback()
    return response(err)


def _on_engine_error(err: EngineError):
    _rollback()
    errors = err.errors if isinstance(err, InvalidData) else None
    retry_after = getattr(err, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return response(Problem(err.status, str(err), errors=errors, headers=headers))


def _on_http_error(err: HTTPException):
    _rollback()
    status = err.code or 500
    detail = err.description or ""
    headers = {}
    if status == 405 and getattr(err, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(err.valid_methods))
    if status == 413:
        detail = gettext("the body is larger than %(size)s bytes", size=current_app.config.get("MAX_CONTENT_LENGTH"))
    return response(Problem(status, detail, headers=headers))


def _on_http_error_anywhere(err: HTTPException):
    if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
        return _on_http_error(err)
    return err


def _on_shape_error(err: Exception):
    # The view ran (and may have committed) but its answer is not the documented one: a fault
    # of the service, said so, without claiming that nothing was written.
    _rollback()
    current_app.logger.error("API answer off its schema for %s %s: %s", request.method, request.path, err)
    return response(Problem(500, N_("the service could not present its answer; the request may have been "
                                    "carried out: read the resource before retrying")))


def _on_unexpected(err: Exception):
    if availability.is_database_unavailable(err):
        return availability.database_unavailable(err)
    _rollback()
    current_app.logger.exception("API request %s %s failed", request.method, request.path)
    return response(Problem(500, N_("the service failed to answer; nothing was written")))


def _rollback():
    try:
        db.session.rollback()
    except Exception:  # the database itself may be what failed
        current_app.logger.exception("rollback after an API error failed")
