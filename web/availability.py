"""Answers that hold for every path: an unreachable database is 503, any body over the limit 413.

- A database that cannot be reached (PostgreSQL down, the connection dropped, SQLite's lock held
  past its busy timeout) is not the client's fault and not a bug: 503 with `Retry-After`,
  problem+json under /api/v1, a short page elsewhere. Nothing was written.
- A body sent with `Transfer-Encoding: chunked` has no Content-Length for Werkzeug to check; read
  through its limit it would be cut at MAX_CONTENT_LENGTH and parsed as a broken document (400).
  It is measured before any view runs instead, and refused with 413.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import current_app, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import RequestEntityTooLarge

from engine.db import db

RETRY_AFTER_SECONDS = 5
UNAVAILABLE_DETAIL = "the database cannot be reached; nothing was written, retry later"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Path prefix -> how that area answers a 503 in its own format (the API: problem+json).
_ANSWERS: dict[str, Callable[[str, dict], Any]] = {}


def answer_unavailable_under(prefix: str, answer: Callable[[str, dict], Any]) -> None:
    """`answer(detail, headers)` gives the 503 for paths under `prefix` (registered by the area)."""
    _ANSWERS[prefix] = answer


def init_app(app) -> None:
    app.before_request(refuse_oversized_stream)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(InterfaceError, database_unavailable)


def is_database_unavailable(err: BaseException) -> bool:
    if isinstance(err, (OperationalError, InterfaceError)):
        return True
    return isinstance(err, DBAPIError) and bool(err.connection_invalidated)


def database_unavailable(err):
    try:
        db.session.rollback()
    except Exception:  # the database is what failed; the session is discarded with the request
        pass
    current_app.logger.error("database unavailable for %s %s: %s", request.method, request.path,
                             type(err).__name__)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    for prefix, answer in _ANSWERS.items():
        if request.path.startswith(prefix):
            return answer(UNAVAILABLE_DETAIL, headers)
    return ("The service cannot reach its database at the moment. Nothing was changed; "
            "please try again in a minute.", 503, {**headers, "Content-Type": "text/plain; charset=utf-8"})


def refuse_oversized_stream():
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if (limit is None or request.method not in _BODY_METHODS or request.content_length is not None
            or not request.environ.get("wsgi.input_terminated")):
        return None
    body = request.get_data(cache=True)  # read through Werkzeug's limit, kept for the view
    if len(body) >= limit and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return None
