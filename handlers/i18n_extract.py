"""Babel extractors (babel.cfg) for the texts kept outside Python and Jinja: the diagrams' step
names, the task forms' titles and messages, and the registries' titles read at run time."""
from __future__ import annotations

import json

from lxml import etree

NAMED = ("task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask",
         "businessRuleTask", "callActivity", "subProcess", "startEvent", "endEvent",
         "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "process")
FORM_KEYS = ("title", "description", "errorMessage")


def extract_bpmn(fileobj, keywords, comment_tags, options):
    """The `name` of every step, event and process of a BPMN file."""
    tree = etree.parse(fileobj)
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        local = etree.QName(element).localname
        name = (element.get("name") or "").strip()
        if local in NAMED and name:
            yield element.sourceline or 0, None, name, []


def extract_form(fileobj, keywords, comment_tags, options):
    """Titles, descriptions, error messages and enum names of a JSON Schema task form."""
    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in FORM_KEYS and isinstance(value, str):
                    yield value
                elif key in ("enumNames", "x-enumNames") and isinstance(value, list):
                    yield from (v for v in value if isinstance(v, str))
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)
    for text in walk(json.load(fileobj)):
        yield 0, None, text, []


def extract_registries(fileobj, keywords, comment_tags, options):
    """Ground titles and legal bases, document types, regions and the automatic signer."""
    from config import Config
    from handlers import documents, grounds
    for registry in (grounds.REFUSAL_GROUNDS, grounds.REVOCATION_GROUNDS):
        for ground in registry.values():
            yield 0, None, ground.title, []
            yield 0, None, ground.legal_basis, []
    for title in documents.DOCUMENT_TITLES.values():
        yield 0, None, title, []
    for name in Config.REGIONS.values():
        yield 0, None, name, []
    yield 0, None, Config.DOCUMENT_AUTOMATIC_SIGNER, []
