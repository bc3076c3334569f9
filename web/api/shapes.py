"""An answer in the shape its schema documents: dumped through it, then checked.

`dump(schema, payload)` leaves out what the schema does not declare (naming the fields in the
log, never their values) and refuses a body that lacks what it declares: a required field
missing, a null where none is allowed, a value its validators refuse (an enumeration). The
OpenAPI document is made from the same schemas (web/api/openapi.py), so what is sent is what
the document says.
"""
from __future__ import annotations

from flask import current_app
from marshmallow import INCLUDE, Schema, ValidationError, fields


class ResponseShapeError(Exception):
    """A view produced an answer its operation does not document (a fault of the service)."""


def dump(schema_class, payload, where: str) -> dict:
    """`payload` as `schema_class` documents it: undeclared fields left out, the rest checked."""
    schema = schema_instance(schema_class)
    try:
        body = schema.dump(payload)
    except (AttributeError, TypeError, ValueError) as err:
        raise ResponseShapeError(f"{where}: cannot be dumped as {schema_class.__name__}: {err}") from err
    errors = shape_errors(schema, body)
    if errors:
        raise ResponseShapeError(f"{where}: the answer does not match {schema_class.__name__}: {errors}")
    left_out = sorted(undeclared(schema, payload))
    if left_out:  # names only: the values may be personal data
        current_app.logger.warning("%s: fields not in %s were not sent: %s", where, schema_class.__name__,
                                   ", ".join(left_out))
    return body


_INSTANCES: dict[type, Schema] = {}


def schema_instance(schema_class) -> Schema:
    """The one instance of a schema, for dumping answers and loading requests: an instance holds
    no state of a load or a dump, and making one copies every field (and its nested schemas'
    fields), about as long as the load itself."""
    found = _INSTANCES.get(schema_class)
    if found is None:
        found = _INSTANCES[schema_class] = schema_class()
    return found


def shape_errors(schema: Schema, body, prefix: str = "") -> dict[str, str]:
    """What a dumped body lacks against its schema: {dotted path: reason} for a required field
    missing, a null where none is allowed, a value its validators refuse (an enumeration)."""
    errors: dict[str, str] = {}
    if not isinstance(body, dict):
        return {prefix: "not an object"}
    for name, declared in schema.fields.items():
        if declared.load_only:
            continue
        key = declared.data_key or name
        path = f"{prefix}.{key}" if prefix else key
        if key not in body:
            if declared.required:
                errors[path] = "missing"
            continue
        errors.update(_value_errors(declared, body[key], path))
    return errors


def _value_errors(declared, value, path: str) -> dict[str, str]:
    if value is None:
        return {} if declared.allow_none else {path: "null"}
    for validator in declared.validators:
        try:
            validator(value)
        except ValidationError as err:
            return {path: "; ".join(flatten_errors(err.messages).get("", [str(err)]))}
    if isinstance(declared, fields.Nested):
        return shape_errors(declared.schema, value, path)
    if isinstance(declared, fields.List) and isinstance(value, list):
        errors = {}
        for i, item in enumerate(value):
            errors.update(_value_errors(declared.inner, item, f"{path}.{i}"))
        return errors
    return {}


def undeclared(schema: Schema, payload, prefix: str = "") -> set[str]:
    """Dotted paths of the payload's keys that `schema` does not declare (so dump leaves them out)."""
    if not isinstance(payload, dict):
        return set()
    found = set()
    by_key = {f.attribute or name: f for name, f in schema.fields.items() if not f.load_only}
    for key, value in payload.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        declared = by_key.get(key)
        if declared is None:
            if schema.unknown != INCLUDE:  # an open schema sends its further fields as they are
                found.add(path)
            continue
        inner = declared.inner if isinstance(declared, fields.List) else declared
        if isinstance(inner, fields.Nested):
            items = value if isinstance(declared, fields.List) and isinstance(value, list) else [value]
            for item in items:
                found |= undeclared(inner.schema, item, path)
    return found


def flatten_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as {dotted.path: [messages]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix
            for p, m in flatten_errors(value, path).items():
                flat.setdefault(p, []).extend(m)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix] = list(messages)
    elif isinstance(messages, list):
        for item in messages:
            for p, m in flatten_errors(item, prefix).items():
                flat.setdefault(p, []).extend(m)
    else:
        flat[prefix] = [str(messages)]
    return flat
