"""The OpenAPI 3.1 document of the API, made from the operations and their marshmallow schemas,
and a plain HTML page that renders it (no scripts, nothing fetched from elsewhere)."""
from __future__ import annotations

import copy
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from flask import current_app, render_template_string

from .operation import COMMON_ERRORS, MULTIPART, OPERATIONS, operation
from .problems import MEDIA_TYPE, PROBLEM_TYPES
from .schemas import PERMIT_NO, UUID, HealthSchema, ProblemSchema

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
SECURITY_SCHEME = "bearerAuth"
TAGS = [
    ("cases", "Applications for a permit or its extension, and the cases they become"),
    ("permits", "The register of permits, and revocations"),
    ("messages", "Messages from the police, employers and ЕСУТД"),
    ("tasks", "Human tasks, for integrations acting as an officer"),
    ("instances", "Process instances of any deployed process"),
    ("definitions", "BPMN process definitions"),
    ("operations", "Operating running cases: incidents, retries, cancellation (supervisors' systems)"),
    ("meta", "The service itself"),
]
_PATH_PARAMS = {
    "uuid": {"type": "string", "format": "uuid", "pattern": UUID},
    "int": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    "default": {"type": "string", "minLength": 1, "maxLength": 200},
}
_PARAM_OVERRIDES = {"permit_no": {"type": "string", "pattern": PERMIT_NO, "maxLength": 40}}
_RESPONSE_NAMES = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
                   409: "Conflict", 413: "PayloadTooLarge", 415: "UnsupportedMediaType",
                   422: "ValidationFailed", 503: "Unavailable"}
# <name>, <uuid:name>, <int(max=2147483647):name>: the converter's name, then the parameter's.
_RULE_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def document() -> dict:
    """The OpenAPI document (made once per application)."""
    cached = current_app.extensions.get("api_openapi")
    if cached is None:
        cached = current_app.extensions["api_openapi"] = _build()
    return copy.deepcopy(cached)


def json_schema(schema_class) -> dict:
    """A schema as one self-contained JSON Schema (nested schemas inlined)."""
    spec = APISpec("payload", API_VERSION, OPENAPI_VERSION)
    converter = OpenAPIConverter(OPENAPI_VERSION, lambda schema: None, spec)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **converter.schema2jsonschema(schema_class)}


@operation("GET", "/openapi.json", summary="This API's OpenAPI document", tag="meta", scopes=None,
           responses={200: (None, "The OpenAPI 3.1 document")})
def openapi_json():
    return document(), 200


@operation("GET", "/docs", summary="This API's documentation (HTML)", tag="meta", scopes=None,
           responses={200: (None, "An HTML page")})
def docs():
    spec = document()
    page = render_template_string(_DOCS_TEMPLATE, spec=spec, tags=TAGS, operations=_operations_by_tag(spec),
                                  problems=PROBLEM_TYPES, schema_rows=_schema_rows)
    return current_app.response_class(page, mimetype="text/html")


@operation("GET", "/health", summary="Is the service up (public)", tag="meta", scopes=None,
           responses={200: (HealthSchema, "Up"), 503: (HealthSchema, "The database is unreachable")})
def health():
    from web.health import health as service_health
    answer = service_health()
    # (response, 503) when the database is unreachable; its body is dumped like every answer
    answer, status = answer if isinstance(answer, tuple) else (answer, 200)
    return answer.get_json(), status


# --- building the document --------------------------------------------------------------------

def _build() -> dict:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Permits for labour immigrants: REST API", version=API_VERSION, openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": _DESCRIPTION},
        servers=[{"url": "/api/v1"}],
        tags=[{"name": name, "description": text} for name, text in TAGS],
    )
    spec.components.security_scheme(SECURITY_SCHEME, {
        "type": "http", "scheme": "bearer",
        "description": "A token from `flask tokens create`; each operation names the scope(s) it needs."})
    spec.components.schema("Problem", schema=ProblemSchema)
    for status, name in _RESPONSE_NAMES.items():
        slug = next(s for s, (code, _, _) in PROBLEM_TYPES.items() if code == status)
        spec.components.response(name, {"description": PROBLEM_TYPES[slug][2],
                                        "content": {MEDIA_TYPE: {"schema": ProblemSchema}}})
    for op in OPERATIONS:
        for path, body, summary, example in _documented_paths(op):
            spec.path(path=path, operations={op.method.lower(): _operation(op, plugin, body, summary, path, example)})
    return spec.to_dict()


def _documented_paths(op):
    path = _RULE_PARAM.sub(lambda m: "{" + m.group(2) + "}", op.rule)
    if not op.documented_as:
        return [(path, op.body, op.summary, op.example)]
    # One route serving several documented operations (a message per name).
    return [(path.replace("{name}", name), body, f"{op.summary}: {name}", example)
            for name, body, example in op.documented_as]


def _operation(op, plugin, body, summary, path, example) -> dict:
    operation_id = op.endpoint if not op.documented_as else f"{op.endpoint}_{path.rsplit('/', 1)[-1]}"
    result = {"operationId": operation_id, "summary": summary, "tags": [op.tag], "responses": {}}
    description = op.description
    if op.scopes is None:
        result["security"] = []
    else:
        result["security"] = [{SECURITY_SCHEME: []}]
        needs = (" or ".join(f"`{s}`" for s in op.scopes) if op.scopes else "any valid token")
        description = f"Needs {needs}. {description}".strip()
        result["x-scopes"] = list(op.scopes)
    if description:
        result["description"] = description
    parameters = [_path_parameter(kind, name) for kind, name in _RULE_PARAM.findall(op.rule)
                  if not (op.documented_as and name == "name")]
    if op.query is not None:
        parameters += plugin.converter.schema2parameters(op.query, location="query")
    parameters += [{"name": name, "in": "header", "required": False, "description": text,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[\x21-\x7e]+$"}}
                   for name, text in op.headers.items()]
    if parameters:
        result["parameters"] = parameters
    if body == MULTIPART:
        result["requestBody"] = {"required": True, "content": {MULTIPART: {"schema": {
            "type": "object", "required": [n for n, (required, _) in op.multipart_fields.items() if required],
            "properties": {n: ({"type": "array", "items": {"type": "string", "format": "binary"},
                                "description": _upload_doc(n)} if many else
                               {"type": "string", "format": "binary", "description": _upload_doc(n)})
                           for n, (_, many) in op.multipart_fields.items()}
            | {n: {"type": "string", "maxLength": size, "description": doc}
               for n, (size, doc) in op.multipart_text.items()}}}}}
    elif body is not None:
        content = {"schema": body}
        if example is not None:
            content["example"] = example
        result["requestBody"] = {"required": op.body_required, "content": {"application/json": content}}
    for status, (schema, text) in sorted(op.responses.items()):
        response = {"description": text}
        if op.endpoint == "docs":
            response["content"] = {"text/html": {"schema": {"type": "string"}}}
        elif op.endpoint == "download_definition":
            response["content"] = {"application/xml": {"schema": {"type": "string"}}}
        elif op.endpoint == "openapi_json":
            response["content"] = {"application/json": {"schema": {"type": "object"}}}
        elif op.endpoint == "case_document":
            response["content"] = {"application/pdf": {"schema": {"type": "string", "format": "binary"}},
                                   "text/html": {"schema": {"type": "string"}}}
        elif schema is not None:
            response["content"] = {"application/json": {"schema": schema}}
        if status == 201:
            response["headers"] = {"Location": {"description": "Where to read what was created",
                                                "schema": {"type": "string"}}}
        result["responses"][str(status)] = response
    for status in sorted(_errors(op, body)):
        result["responses"].setdefault(str(status), {"$ref": f"#/components/responses/{_RESPONSE_NAMES[status]}"})
    return result


def _errors(op, body) -> set[int]:
    errors = set(op.errors)
    if op.scopes is not None:
        errors |= {401, 403}
    if body is not None:
        errors |= {400, 413, 415, 422}
    if op.query is not None:
        errors.add(422)
    if "<" in op.rule:
        errors.add(404)
    return errors & COMMON_ERRORS


def _path_parameter(kind: str, name: str) -> dict:
    schema = dict(_PARAM_OVERRIDES.get(name) or _PATH_PARAMS.get(kind) or _PATH_PARAMS["default"])
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _upload_doc(name: str) -> str:
    from .definitions import UPLOAD_DOC
    return UPLOAD_DOC.get(name, "")


# --- the docs page ----------------------------------------------------------------------------

def _operations_by_tag(spec: dict) -> dict:
    grouped: dict[str, list] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            grouped.setdefault(op["tags"][0], []).append({"method": method.upper(), "path": path, **op})
    return grouped


def _schema_rows(schema: dict) -> list[dict]:
    """The properties of a component schema as table rows."""
    required = set(schema.get("required", []))
    rows = []
    for name, prop in (schema.get("properties") or {}).items():
        rows.append({"name": name, "type": _type_text(prop), "required": name in required,
                     "description": prop.get("description", ""),
                     "enum": ", ".join(str(v) for v in prop.get("enum", []) if v is not None)})
    return rows


def _type_text(prop: dict) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop or "oneOf" in prop:
        return " | ".join(_type_text(p) for p in prop.get("anyOf") or prop.get("oneOf"))
    kind = prop.get("type", "any")
    kind = " | ".join(kind) if isinstance(kind, list) else kind
    if "array" in kind and isinstance(prop.get("items"), dict):
        kind = kind.replace("array", f"array of {_type_text(prop['items'])}")
    if prop.get("format"):
        kind += f" ({prop['format']})"
    return kind


_DESCRIPTION = """\
The service "Issue, extension and revocation of a permit for a labour immigrant" for client
systems: the e-government portal submits applications and reads cases, the police information
system answers checks, ЕСУТД reports terminated contracts, integrations act on officers' tasks.

* JSON in and out; dates ISO 8601 (`YYYY-MM-DD`), times ISO 8601 with a zone; money in whole tenge.
* `Authorization: Bearer <token>`; each operation names the scope it needs; a token may be
  limited to regions.
* Errors are `application/problem+json` (RFC 9457) with `type`, `title`, `status`, `detail`, and
  `errors` {field path: messages} for validation. Nothing is written when an error is answered.
* Safe retries: resend an application with the same `application_no` and body, or a message with
  the same `message_id`: you get the first result again.
"""

_DOCS_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ spec.info.title }}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.6rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.5rem}
.op{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
.m{display:inline-block;min-width:4rem;font-weight:bold;font-family:monospace}
.GET{color:#0a6}.POST{color:#06c}code,.path{font-family:monospace}
table{border-collapse:collapse;margin:.4rem 0;font-size:.92rem}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
.small{color:#555;font-size:.9rem}pre{white-space:pre-wrap}
</style></head><body>
<h1>{{ spec.info.title }} <span class="small">version {{ spec.info.version }}, OpenAPI {{ spec.openapi }}</span></h1>
<p>Machine-readable: <a href="openapi.json">openapi.json</a>. Base path: <code>{{ spec.servers[0].url }}</code>.</p>
<pre>{{ spec.info.description }}</pre>
<nav><ul>{% for name, text in tags %}{% if operations.get(name) %}<li><a href="#tag-{{ name }}">{{ name }}</a>: {{ text }}</li>{% endif %}{% endfor %}
<li><a href="#schemas">schemas</a></li><li><a href="#problems">problem types</a></li></ul></nav>
{% for name, text in tags %}{% if operations.get(name) %}
<h2 id="tag-{{ name }}">{{ name }}</h2><p>{{ text }}</p>
{% for op in operations[name] %}
<div class="op" id="op-{{ op.operationId }}">
<div><span class="m {{ op.method }}">{{ op.method }}</span> <span class="path">{{ op.path }}</span> — {{ op.summary }}</div>
{% if op.description %}<p class="small">{{ op.description }}</p>{% endif %}
{% if op.parameters %}<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th>description</th></tr>
{% for p in op.parameters %}<tr><td><code>{{ p.name }}</code></td><td>{{ p["in"] }}</td><td>{{ p.schema.type }}{% if p.schema.enum %}: {{ p.schema.enum|reject("none")|join(", ") }}{% endif %}</td><td>{{ "yes" if p.required else "no" }}</td><td>{{ p.description or p.schema.description or "" }}</td></tr>{% endfor %}</table>{% endif %}
{% if op.requestBody %}<div>Body: {% for media, c in op.requestBody.content.items() %}<code>{{ media }}</code>
{% if c.schema["$ref"] %}<a href="#schema-{{ c.schema["$ref"].rsplit("/", 1)[-1] }}">{{ c.schema["$ref"].rsplit("/", 1)[-1] }}</a>{% else %}{{ c.schema.properties|join(", ") }}{% endif %}
{% if c.example %}<details><summary>example</summary><pre>{{ c.example|tojson(indent=2) }}</pre></details>{% endif %}{% endfor %}</div>{% endif %}
<table><tr><th>status</th><th>answer</th></tr>
{% for status, r in op.responses.items() %}<tr><td>{{ status }}</td><td>{% if r["$ref"] %}problem: {{ r["$ref"].rsplit("/", 1)[-1] }}{% else %}{{ r.description }}{% for media, c in (r.content or {}).items() %}{% if c.schema["$ref"] %} — <a href="#schema-{{ c.schema["$ref"].rsplit("/", 1)[-1] }}">{{ c.schema["$ref"].rsplit("/", 1)[-1] }}</a>{% endif %}{% endfor %}{% endif %}</td></tr>{% endfor %}
</table></div>
{% endfor %}{% endif %}{% endfor %}
<h2 id="schemas">Schemas</h2>
{% for name, schema in spec.components.schemas.items() %}
<h3 id="schema-{{ name }}">{{ name }}</h3>
<table><tr><th>field</th><th>type</th><th>required</th><th>values / description</th></tr>
{% for row in schema_rows(schema) %}<tr><td><code>{{ row.name }}</code></td><td>{{ row.type }}</td><td>{{ "yes" if row.required else "" }}</td><td>{{ row.enum }}{% if row.enum and row.description %}; {% endif %}{{ row.description }}</td></tr>{% endfor %}
</table>{% endfor %}
<h2 id="problems">Problem types</h2>
{% for slug, (status, title, text) in problems.items() %}
<h3 id="problem-{{ slug }}">{{ status }} {{ title }}</h3><p>{{ text }}</p>{% endfor %}
</body></html>
"""
