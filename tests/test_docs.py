"""The documents in docs/ cite real places: every diagram element, function and configuration
key they name exists, so a reader following docs/law.md lands where the rule lives."""
import ast
import re
from pathlib import Path

from lxml import etree

import config

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
ELEMENT = re.compile(r"`(processes/[\w./-]+\.bpmn)#(\w+)`")
FUNCTION = re.compile(r"`((?:engine|handlers|web)/[\w/]+\.py)::([\w.]+)`")
SETTING = re.compile(r"`config\.([A-Z][A-Z0-9_]+)`")
FILE = re.compile(r"`((?:engine|handlers|web|processes|tests|migrations|scripts)/[\w./-]+\.(?:py|bpmn|json))`")


def _citations(pattern):
    for doc in DOCS:
        for match in pattern.finditer(doc.read_text(encoding="utf-8")):
            yield doc.name, match.groups()


def _names_in(path: Path) -> set[str]:
    """Top-level functions, classes and assignments, and Class.method for methods."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                names |= {f"{node.name}.{item.name}" for item in node.body
                          if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_the_documents_cite_at_least_the_law_architecture_and_operations():
    assert {"law.md", "architecture.md", "operations.md"} <= {d.name for d in DOCS}
    assert list(_citations(ELEMENT)) and list(_citations(FUNCTION)) and list(_citations(SETTING))


def test_every_diagram_element_the_documents_cite_exists():
    missing = []
    for doc, (path, element) in _citations(ELEMENT):
        tree = etree.parse(str(ROOT / path)) if (ROOT / path).exists() else None
        if tree is None or not tree.xpath("//*[@id=$id]", id=element):
            missing.append(f"{doc}: {path}#{element}")
    assert not missing, missing


def test_every_function_the_documents_cite_exists():
    missing = [f"{doc}: {path}::{name}" for doc, (path, name) in _citations(FUNCTION)
               if not (ROOT / path).exists() or name not in _names_in(ROOT / path)]
    assert not missing, missing


def test_every_configuration_key_the_documents_cite_exists():
    missing = [f"{doc}: config.{key}" for doc, (key,) in _citations(SETTING)
               if not hasattr(config.Config, key)]
    assert not missing, missing


def test_every_file_the_documents_cite_exists():
    missing = [f"{doc}: {path}" for doc, (path,) in _citations(FILE) if not (ROOT / path).exists()]
    assert not missing, missing
