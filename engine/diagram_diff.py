"""What changed between two versions of a BPMN diagram, element by element.

Elements are matched by their id (the BPMN model's elements, not the layout): an id only in the
newer version is added, only in the older one removed; an element in both is changed when its
type, its name, another attribute (e.g. a flow's source or target) or a child without an id of
its own (a condition, a script, the engine's extension elements) differs. The `incoming` and
`outgoing` lists and a lane's node references are left out: they repeat what the flows and the
lanes' members already say.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DERIVED = {"incoming", "outgoing", "flowNodeRef"}


class DiagramError(ValueError):
    """The text is not a BPMN diagram that can be compared."""


@dataclass
class Element:
    id: str
    type: str
    name: str | None
    attributes: dict = field(default_factory=dict)
    parts: dict = field(default_factory=dict)  # child tag -> canonical text
    readable: dict = field(default_factory=dict)  # child tag -> its text when it has no children

    def brief(self) -> dict:
        return {"id": self.id, "type": self.type, "name": self.name}


def elements(bpmn: bytes | str) -> dict[str, Element]:
    """The diagram's model elements that have an id, keyed by id."""
    if isinstance(bpmn, str):
        bpmn = bpmn.encode("utf-8")
    try:
        root = etree.fromstring(bpmn, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as err:
        raise DiagramError(str(err)) from None
    if etree.QName(root).namespace != BPMN_NS:
        raise DiagramError("the root element is not a BPMN definitions element")
    found = {}
    for node in root.iter(f"{{{BPMN_NS}}}*"):
        element_id = node.get("id")
        if not element_id or node is root:
            continue
        attributes = {etree.QName(k).localname: v for k, v in node.attrib.items() if k not in ("id", "name")}
        parts: dict[str, str] = {}
        readable: dict[str, str] = {}
        for child in node:
            if not isinstance(child.tag, str) or child.get("id"):
                continue
            tag = etree.QName(child).localname
            if tag in DERIVED:
                continue
            parts[tag] = parts.get(tag, "") + _canonical(child)
            readable[tag] = (child.text or "").strip() if len(child) == 0 and tag not in readable else parts[tag]
        found[element_id] = Element(element_id, etree.QName(node).localname, node.get("name"), attributes,
                                    parts, readable)
    return found


def compare(older: bytes | str, newer: bytes | str) -> dict:
    """{"added": [...], "removed": [...], "changed": [...]}; a changed element lists its changes as
    {"field", "before", "after"}, field being "type", "name", an attribute's or a child's name."""
    before, after = elements(older), elements(newer)
    added = [after[i].brief() for i in after if i not in before]
    removed = [before[i].brief() for i in before if i not in after]
    changed = []
    for element_id, new in after.items():
        old = before.get(element_id)
        if old is None:
            continue
        changes = []
        if old.type != new.type:
            changes.append({"field": "type", "before": old.type, "after": new.type})
        if (old.name or "") != (new.name or ""):
            changes.append({"field": "name", "before": old.name, "after": new.name})
        for key in sorted(set(old.attributes) | set(new.attributes)):
            if old.attributes.get(key) != new.attributes.get(key):
                changes.append({"field": key, "before": old.attributes.get(key), "after": new.attributes.get(key)})
        for key in sorted(set(old.parts) | set(new.parts)):
            if old.parts.get(key) != new.parts.get(key):
                changes.append({"field": key, "before": old.readable.get(key), "after": new.readable.get(key)})
        if changes:
            changed.append({**new.brief(), "changes": changes})
    return {"added": added, "removed": removed, "changed": changed}


def _canonical(node) -> str:
    """The child as text that ignores formatting whitespace and attribute order."""
    tag = etree.QName(node).localname
    attrs = " ".join(f'{etree.QName(k).localname}="{v}"' for k, v in sorted(node.attrib.items()))
    text = (node.text or "").strip()
    inner = "".join(_canonical(c) for c in node if isinstance(c.tag, str))
    return f"<{tag}{' ' + attrs if attrs else ''}>{text}{inner}</{tag}>"

