"""A task's form drawn from its JSON Schema, and the posted form read back as the data it describes.

The engine validates the result against the same schema; this module only chooses widgets and
converts text to the schema's types, leaving any wrong value for the engine to report:
- `enum` (or `oneOf`/`anyOf` of `const` with `title`) -> radio buttons, a select when long;
- `boolean` -> a checkbox; an array of enum -> checkboxes;
- `string` -> a text input, a textarea when long (maxLength > 200 or "format": "textarea"),
  a date input for "format": "date"; `integer`/`number` -> a number input;
- `object` -> a fieldset of its properties; any other array -> a textarea, one item a line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext

from handlers import grounds
from handlers.i18n import N_

# The engine's own form messages (engine/forms.py), for the catalogue; the forms' errorMessage
# texts are extracted from processes/forms by babel.cfg.
ENGINE_MESSAGES = (N_("this field is required"),)
RADIO_LIMIT = 6
LONG_TEXT = 200


@dataclass
class Field:
    name: str                      # dotted path, also the input's name
    label: str
    widget: str                    # radio select checkbox checkboxes text textarea number date fieldset
    required: bool = False
    description: str | None = None
    options: list = field(default_factory=list)     # [(value, label)]
    value: Any = None
    errors: list = field(default_factory=list)
    children: list = field(default_factory=list)
    step: str | None = None        # for number inputs
    maxlength: int | None = None

    @property
    def id(self) -> str:
        return "field-" + self.name.replace(".", "-")

    def selected(self, option) -> bool:
        if isinstance(self.value, list):
            return option in self.value
        return self.value == option


def fields(schema: dict, values: dict | None = None, errors: dict | None = None) -> tuple[list[Field], list[str]]:
    """The form's fields with their current values and errors, and the errors of no one field."""
    built = _object_fields(schema or {}, "", values or {})
    unplaced = []
    index = {}
    _index(built, index)
    for path, messages in (errors or {}).items():
        # The engine's messages are English; those of the catalogue read in the officer's language.
        messages = [gettext(m) if isinstance(m, str) else m for m in messages]
        target = _owner(path, index)
        if target is None:
            unplaced.extend(f"{path}: {m}" if path else m for m in messages)
        else:
            target.errors.extend(messages)
    return built, unplaced


def parse(schema: dict, form) -> dict:
    """The posted form (a MultiDict) as data of the schema's shape; empty fields are left out."""
    return _parse_object(schema or {}, "", form)


# --- building ------------------------------------------------------------------------------

def _object_fields(schema, prefix, values):
    required = set(schema.get("required") or [])
    result = []
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict) or sub.get("readOnly"):
            continue
        path = f"{prefix}{name}"
        value = values.get(name, sub.get("default")) if isinstance(values, dict) else None
        result.append(_field(sub, path, name, value, name in required))
    return result


def _field(schema, path, name, value, required):
    # Titles, descriptions and enum names of the form files are English message ids of the catalogue.
    title, description = schema.get("title"), schema.get("description")
    label = gettext(title) if title else name.replace("_", " ").capitalize()
    description = gettext(description) if description else None
    common = dict(name=path, label=label, required=required, description=description)
    kind = _type(schema)
    options = _options(schema)
    if kind == "object":
        return Field(widget="fieldset", children=_object_fields(schema, path + ".", value or {}),
                     **common)
    if kind == "array":
        item_options = _options(schema.get("items") or {}, schema)
        if item_options:
            return Field(widget="checkboxes", options=item_options, value=list(value or []), **common)
        text = "\n".join(str(v) for v in value) if isinstance(value, list) else (value or "")
        return Field(widget="textarea", value=text, **common)
    if options:
        widget = "radio" if len(options) <= RADIO_LIMIT else "select"
        return Field(widget=widget, options=options, value=value, **common)
    if kind == "boolean":
        return Field(widget="checkbox", value=bool(value), **common)
    if kind in ("integer", "number"):
        return Field(widget="number", value=value, step="1" if kind == "integer" else "any", **common)
    long_text = (schema.get("maxLength") or 0) > LONG_TEXT or schema.get("format") == "textarea"
    widget = "date" if schema.get("format") == "date" else ("textarea" if long_text else "text")
    return Field(widget=widget, value=value, maxlength=schema.get("maxLength"), **common)


def _options(schema, owner=None):
    """[(value, label)] of an enum; `owner` is the array whose items these are (labels may sit there)."""
    if "enum" in schema:
        titles = (schema.get("enumNames") or schema.get("x-enumNames")
                  or (owner or {}).get("enumNames") or (owner or {}).get("x-enumNames") or [])
        return [(v, gettext(titles[i]) if i < len(titles) else _option_label(v))
                for i, v in enumerate(schema["enum"])]
    choices = schema.get("oneOf") or schema.get("anyOf")
    if choices and all(isinstance(c, dict) and "const" in c for c in choices):
        return [(c["const"], _translated(c.get("title")) or _option_label(c["const"])) for c in choices]
    return []


def _translated(text):
    return gettext(text) if text else None


def _option_label(value):
    ground = grounds.REFUSAL_GROUNDS.get(value) if isinstance(value, str) else None
    if ground is not None:
        return gettext(ground.title)
    return str(value).replace("_", " ").capitalize() if isinstance(value, str) else str(value)


def _type(schema):
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        return "object"
    return kind


def _index(fields_, index):
    for f in fields_:
        index[f.name] = f
        _index(f.children, index)


def _owner(path, index):
    parts = path.split(".") if path else []
    while parts:
        found = index.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None


# --- parsing -------------------------------------------------------------------------------

def _parse_object(schema, prefix, form):
    data = {}
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict) or sub.get("readOnly"):
            continue
        path = f"{prefix}{name}"
        kind = _type(sub)
        if kind == "object":
            value = _parse_object(sub, path + ".", form)
            if value:
                data[name] = value
        elif kind == "array":
            if _options(sub.get("items") or {}):
                data[name] = [_typed(sub.get("items") or {}, v) for v in form.getlist(path)]
            else:
                lines = [line.strip() for line in form.get(path, "").splitlines() if line.strip()]
                if lines:
                    data[name] = [_typed(sub.get("items") or {}, v) for v in lines]
        elif kind == "boolean" and not _options(sub):
            data[name] = form.get(path) in ("true", "on", "1")
        else:
            raw = form.get(path)
            if raw is None or raw.strip() == "":
                continue
            data[name] = _typed(sub, raw if kind == "string" else raw.strip())
    return data


def _typed(schema, raw):
    """Text as the schema's type; a value that does not convert stays text for the engine to refuse."""
    kind = _type(schema)
    options = _options(schema)
    if options:
        for value, _ in options:
            if str(value) == raw:
                return value
        return raw
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            number = float(raw)
            return int(number) if number.is_integer() and "." not in raw else number
        if kind == "boolean":
            return {"true": True, "false": False}.get(raw.lower(), raw)
    except ValueError:
        return raw
    return raw
