"""What an analyst may put into a diagram: the registered operators and the forms, with where
the newest deployed diagrams use each.

Parameters come from the handler's own signature (`inspect`), descriptions from its docstring,
so the catalogue cannot drift from the code that runs.
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path

from lxml import etree

from . import definitions, operators
from .validation import BPMN_NS, FORM_PROPERTY, HUMAN_TASK_TAGS, NS, _safe_parser


def operator_catalogue() -> list[dict]:
    usage = _operator_usage()
    return [describe_operator(operators.get(name), usage.get(name, []))
            for name in sorted(operators.names())]


def describe_operator(op: operators.Operator, used_in: list[dict] | None = None) -> dict:
    signature = inspect.signature(op.func)
    parameters = []
    # The first parameter is the engine's StepContext, never written in a diagram.
    for param in list(signature.parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        required = param.default is param.empty
        parameters.append({"name": param.name, "type": _annotation(param.annotation),
                           "required": required,
                           "default": None if required else _plain(param.default)})
    doc = inspect.getdoc(op.func) or ""
    paragraphs = [p.strip() for p in doc.split("\n\n") if p.strip()]
    return {"name": op.name, "description": op.description or (paragraphs[0] if paragraphs else ""),
            "parameters": parameters,
            "result": {"type": _annotation(signature.return_annotation),
                       "description": " ".join(" ".join(p.split()) for p in paragraphs[1:])},
            "external": op.external, "pure": op.pure, "retryable": bool(op.retryable),
            "used_in": used_in or []}


def form_catalogue(forms_dir: str | Path) -> list[dict]:
    usage = _form_usage()
    found = []
    for path in sorted(Path(forms_dir).glob("*.json")):
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a broken file cannot be deployed either (check_forms says so at deploy)
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        found.append({
            "name": path.name, "title": schema.get("title") or path.stem,
            "description": schema.get("description") or "",
            "fields": [{"name": key, "title": (value or {}).get("title") or key,
                        "type": (value or {}).get("type") or "any", "required": key in required}
                       for key, value in properties.items()],
            "schema": schema, "used_in": usage.get(path.name, [])})
    return found


def _operator_usage() -> dict[str, list[dict]]:
    usage: dict[str, list[dict]] = {}
    for row, root in _newest_diagrams():
        for task in root.iter(f"{{{BPMN_NS}}}serviceTask"):
            op = task.find(".//spiffworkflow:serviceTaskOperator", NS)
            if op is not None:
                usage.setdefault(op.get("id"), []).append(_site(row, task))
    return usage


def _form_usage() -> dict[str, list[dict]]:
    usage: dict[str, list[dict]] = {}
    for row, root in _newest_diagrams():
        for tag in HUMAN_TASK_TAGS:
            for task in root.iter(f"{{{BPMN_NS}}}{tag}"):
                for prop in task.iterfind(".//spiffworkflow:property", NS):
                    if prop.get("name") == FORM_PROPERTY:
                        usage.setdefault(prop.get("value") or "", []).append(_site(row, task))
    return usage


def _newest_diagrams():
    for row in definitions.all_latest():
        try:
            yield row, etree.fromstring(row.bpmn_xml.encode("utf-8"), parser=_safe_parser())
        except etree.XMLSyntaxError:
            continue  # deployed diagrams were checked; this only guards a hand-edited row


def _site(row, task) -> dict:
    return {"process_id": row.process_id, "version": row.version, "definition_id": row.id,
            "element_id": task.get("id"), "element_name": task.get("name")}


def _annotation(annotation) -> str:
    if annotation is inspect.Signature.empty:
        return "any"
    if isinstance(annotation, str):  # modules with `from __future__ import annotations`
        return annotation
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _plain(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else repr(value)
