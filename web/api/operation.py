"""One API operation: its route, who may call it, what it reads, what it answers.

`@operation(...)` registers a view on the API blueprint and records what the OpenAPI document
says about it, so the route, its checks and its documentation cannot drift apart. Before the
view runs: the bearer token (401), the scope (403), the content type (415), the body and the
query against their marshmallow schemas (422). A view receives `body=` and `query=` loaded
and returns `(payload, status)` or `(payload, status, headers)`.

After the view: the payload is dumped through the schema `responses` declares for its status,
so what is sent is the shape the OpenAPI document gives (it is made from the same schemas). A
field the schema does not declare is not sent (and logged by name); a declared field missing,
null where it may not be, or outside its enumeration, or a status not declared, is a fault of
the service (ResponseShapeError), never an answer off the document.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

from flask import current_app, g, request
from flask_babel import gettext
from marshmallow import Schema, ValidationError

from . import clients
from .blueprint import bp
from .problems import Problem, validation
from .shapes import ResponseShapeError, dump, flatten_errors, schema_instance

MULTIPART = "multipart/form-data"
COMMON_ERRORS = {400, 401, 403, 404, 409, 413, 415, 422, 503}


@dataclass
class Operation:
    method: str
    rule: str
    endpoint: str
    summary: str
    tag: str
    responses: dict  # status -> (schema class or None, description)
    scopes: tuple | None = ()  # None: public; (): any valid token; else any one of these
    body: type[Schema] | str | None = None
    body_required: bool = True
    query: type[Schema] | None = None
    errors: tuple = ()
    description: str = ""
    multipart_fields: dict = field(default_factory=dict)
    multipart_text: dict = field(default_factory=dict)  # optional text fields: {name: (max length, description)}
    example: dict | None = None  # a valid request body, shown in the document and tried first by fuzzers
    # One route serving several documented operations: [(path value, body schema, example)].
    documented_as: list = field(default_factory=list)
    headers: dict = field(default_factory=dict)  # optional request headers: {name: description}


OPERATIONS: list[Operation] = []


def operation(method: str, rule: str, *, summary: str, tag: str, responses: dict, scopes=(),
              body=None, body_required: bool = True, query=None, errors=(), description: str = "",
              multipart_fields: dict | None = None, multipart_text: dict | None = None,
              example: dict | None = None,
              documented_as: list | None = None, headers: dict | None = None):
    def decorator(view):
        op = Operation(method=method, rule=rule, endpoint=view.__name__, summary=summary, tag=tag,
                       responses=responses, scopes=None if scopes is None else tuple(scopes), body=body,
                       body_required=body_required, query=query, errors=tuple(errors),
                       description=description or (view.__doc__ or "").strip(),
                       multipart_fields=multipart_fields or {}, multipart_text=multipart_text or {},
                       example=example,
                       documented_as=documented_as or [], headers=headers or {})

        @functools.wraps(view)
        def run(**path):
            if op.scopes is not None:
                _authenticate(op.scopes)
            kwargs = dict(path)
            if op.query is not None:
                kwargs["query"] = load_query(op.query)
            if op.body == MULTIPART:
                kwargs["upload"] = load_multipart(op.multipart_fields, op.multipart_text)
            elif op.body is not None:
                kwargs["body"] = load_json(op.body, op.body_required)
            return render(view(**kwargs), op)

        bp.add_url_rule(rule, endpoint=view.__name__, view_func=run, methods=[method])
        OPERATIONS.append(op)
        return run

    return decorator


def client() -> clients.Caller:
    """The authenticated client of this request."""
    return g.api_client


def require_region(region: str | None) -> None:
    """403 unless the client's regions cover `region`."""
    if not client().covers(region):
        raise Problem(403, gettext("this token does not cover the region %(region)s", region=region))


def render(result, op: Operation):
    if isinstance(result, current_app.response_class):
        return result
    payload, status, *rest = result if isinstance(result, tuple) else (result, 200)
    if status not in op.responses:
        raise ResponseShapeError(f"{op.endpoint} answered {status}, which it does not declare")
    schema_class = op.responses[status][0]
    if schema_class is not None:
        payload = dump(schema_class, payload, f"{op.endpoint} {status}")
    resp = current_app.response_class(json.dumps(payload, ensure_ascii=False, default=str), status=status,
                                      mimetype="application/json")
    for key, value in (rest[0] if rest else {}).items():
        resp.headers[key] = value
    return resp


def load_json(schema_class, required: bool = True) -> dict:
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413 here
    if not raw and not required:
        return _load(schema_class, {}, "body")
    if not _is_json(request.mimetype):
        raise Problem(415, gettext("send the body as application/json, not %(type)s",
                                   type=request.mimetype or gettext("nothing")))
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise Problem(400, gettext("the body is not valid JSON: %(error)s", error=err)) from None
    if not isinstance(data, dict):
        raise validation({"": [gettext("the body must be a JSON object")]})
    return _load(schema_class, data, "body")


def load_query(schema_class) -> dict:
    repeated = sorted(k for k, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise validation({k: [gettext("give this parameter once")] for k in repeated})
    return _load(schema_class, request.args.to_dict(flat=True), "query")


def load_multipart(fields: dict, texts: dict | None = None) -> dict:
    """{field: [(filename, bytes), ...]} of the uploaded files; fields as {name: (required, many)};
    and {text field: str or None} of the optional text fields, texts as {name: (max length, doc)}."""
    texts = texts or {}
    if request.mimetype != MULTIPART:
        raise Problem(415, gettext("upload the files as multipart/form-data, not %(type)s",
                                   type=request.mimetype or gettext("nothing")))
    try:
        files, form = request.files, request.form
    except ValueError as err:
        raise Problem(400, gettext("the multipart body is broken: %(error)s", error=err)) from None
    errors = {}
    for name in form.keys():
        if name not in texts:
            errors.setdefault(name, []).append("send this field as a file")
        elif len(form.getlist(name)) > 1:
            errors.setdefault(name, []).append("give this field once")
    for name in files.keys():
        if name not in fields:
            errors.setdefault(name, []).append("unknown field")
    result = {}
    for name, (required, many) in fields.items():
        uploaded = files.getlist(name)
        if required and not uploaded:
            errors.setdefault(name, []).append("this file is required")
        if not many and len(uploaded) > 1:
            errors.setdefault(name, []).append("send one file")
        result[name] = [(_plain_filename(f.filename, name), f.read()) for f in uploaded]
    for name, (max_length, _) in texts.items():
        value = (form.get(name) or "").strip()
        if len(value) > max_length:
            errors.setdefault(name, []).append(f"at most {max_length} characters")
        elif any(ord(c) < 32 and c not in "\n\r\t" for c in value):
            errors.setdefault(name, []).append("control characters are not allowed")
        result[name] = value or None
    if errors:
        raise validation(errors)
    return result


def _authenticate(scopes: tuple) -> None:
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    found = clients.authenticate(token.strip()) if kind.lower() == "bearer" else None
    if found is None:
        raise Problem(401, gettext("send a valid bearer token: Authorization: Bearer <token>")
                      if header else gettext("this operation needs a bearer token"),
                      headers={"WWW-Authenticate": 'Bearer realm="api"'})
    if scopes and not set(scopes) & set(found.scopes):
        raise Problem(403, gettext("this token lacks the scope %(scope)s", scope=" | ".join(scopes)))
    g.api_client = found


def _load(schema_class, data: dict, where: str) -> dict:
    try:
        return schema_instance(schema_class).load(data)
    except ValidationError as err:
        raise validation(flatten_errors(err.messages),
                         f"the {'request body' if where == 'body' else 'query'} has errors") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _plain_filename(filename: str | None, default: str) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name) or name.startswith("."):
        return default
    return name
