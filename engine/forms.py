"""Task forms: JSON Schema files named by a user task, checked by the engine for every caller."""
from __future__ import annotations

from jsonschema import Draft202012Validator, FormatChecker


def validate(schema: dict, data) -> dict[str, list[str]]:
    """Errors by dotted field path ('' for the form as a whole); empty when the data is valid."""
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    errors: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        for path, message in _explain(error):
            errors.setdefault(path, []).append(message)
    return errors


def _explain(error):
    path = ".".join(str(p) for p in error.absolute_path)
    # A form's own message (schema keyword "errorMessage" next to the failing rule) reads better.
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield (f"{path}.{missing}" if path else missing), custom or "this field is required"
    elif error.validator in ("if", "then", "allOf", "anyOf", "oneOf") and error.context:
        for sub in error.context:
            yield from _explain(sub)
    else:
        yield path, custom or error.message
