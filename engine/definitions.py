"""Process definitions: deployed once per content hash, versioned per process id, parsed once.

A definition row holds the BPMN file and a snapshot of the form schemas it names, so a
running instance keeps the diagram and forms it started with after a new version arrives.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from .specs import EngineParser

from . import audit, caches, clock, isolation
from .db import UTCDateTime, db
from .validation import BPMN_NS, DeployProblem, parse_processes, validate_bpmn


class DeployError(Exception):
    """A diagram refused at deploy; `problems` name each element and the reason."""

    def __init__(self, problems: list[DeployProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class ProcessDefinition(db.Model):
    __tablename__ = "process_definition"
    __table_args__ = (
        sa.UniqueConstraint("process_id", "version", name="uq_definition_version"),
        sa.UniqueConstraint("process_id", "content_hash", name="uq_definition_hash"),
    )

    id = sa.Column(sa.Integer, primary_key=True)
    process_id = sa.Column(sa.String(200), nullable=False, index=True)
    name = sa.Column(sa.String(300))
    version = sa.Column(sa.Integer, nullable=False)
    content_hash = sa.Column(sa.String(64), nullable=False)
    filename = sa.Column(sa.String(300), nullable=False)
    bpmn_xml = sa.Column(sa.Text, nullable=False)
    forms = sa.Column(sa.JSON, nullable=False, default=dict)
    deployed_at = sa.Column(UTCDateTime, nullable=False)
    deployed_by = sa.Column(sa.String(200), nullable=False)
    comment = sa.Column(sa.Text)  # why the analyst deployed it
    override_reason = sa.Column(sa.Text)  # why an administrator deployed it although a scenario failed

    def as_dict(self):
        return {"id": self.id, "process_id": self.process_id, "name": self.name,
                "version": self.version, "content_hash": self.content_hash,
                "filename": self.filename, "deployed_at": self.deployed_at.isoformat(),
                "deployed_by": self.deployed_by, "comment": self.comment,
                "override_reason": self.override_reason}


class GateRefused(DeployError):
    """A valid diagram refused because a deploy gate (e.g. the scenarios) found it would change
    what already works; `refusals` say what (each with `as_dict()`), `problems` the same as text."""

    def __init__(self, refusals: list):
        self.refusals = refusals
        super().__init__([DeployProblem(getattr(r, "scenario", "gate"), str(r)) for r in refusals])


# Checks a new version must pass before it is stored: gate(filename, bpmn, forms, config) ->
# a list of refusals (empty: it may go live). The domain registers its own (handlers.init_app).
GATES: list = []


@dataclass
class Deployed:
    process_id: str
    version: int
    created: bool
    definition_id: int


def deploy_file(path: str | Path, config, actor: str = "system", **options) -> list[Deployed]:
    path = Path(path)
    forms = _read_named_forms(path.read_bytes(), Path(config["FORMS_DIR"]))
    return deploy(path.name, path.read_bytes(), forms, config, actor, **options)


def named_forms(bpmn: bytes, config) -> dict[str, bytes]:
    """The form files of FORMS_DIR that a diagram names (what the modeler page deploys with)."""
    return _read_named_forms(bpmn, Path(config["FORMS_DIR"]))


def deploy_directory(directory: str | Path, config, actor: str = "system") -> list[Deployed]:
    results = []
    for path in sorted(Path(directory).glob("*.bpmn")):
        results.extend(deploy_file(path, config, actor))
    return results


def deploy(filename: str, bpmn: bytes, forms: dict[str, bytes], config, actor: str = "system",
           commit: bool = True, comment: str | None = None, override_reason: str | None = None
           ) -> list[Deployed]:
    """Validate and store a BPMN file; an unchanged file deploys nothing.

    `forms` maps a form file name to its bytes (the files the diagram names); `comment` says
    why, for the version history. A new version passes the GATES first (the scenarios);
    `override_reason` deploys it despite their refusals (who may is the caller's rule), audited.
    Raises DeployError with every problem found, GateRefused with every refusal; nothing is
    stored then.
    """
    problems = validate(filename, bpmn, forms, config)
    if problems:
        raise DeployError(problems)
    form_snapshot = {name: json.loads(raw) for name, raw in sorted(forms.items())}
    content_hash = _content_hash(bpmn, form_snapshot)
    refusals = []
    if not isolation.active() and _is_new(bpmn, content_hash):
        for check in GATES:
            refusals.extend(check(filename, bpmn, forms, config))
    if refusals and not override_reason:
        raise GateRefused(refusals)
    results = []
    for process_id, name in parse_processes(bpmn):
        existing = db.session.execute(
            sa.select(ProcessDefinition).filter_by(process_id=process_id, content_hash=content_hash)
        ).scalar_one_or_none()
        if existing is not None:
            results.append(Deployed(process_id, existing.version, False, existing.id))
            continue
        latest = db.session.execute(
            sa.select(sa.func.max(ProcessDefinition.version)).filter_by(process_id=process_id)
        ).scalar() or 0
        row = ProcessDefinition(
            process_id=process_id, name=name, version=latest + 1, content_hash=content_hash,
            filename=filename, bpmn_xml=bpmn.decode("utf-8"), forms=form_snapshot,
            deployed_at=clock.now(), deployed_by=actor, comment=comment or None,
            override_reason=override_reason if refusals else None,
        )
        db.session.add(row)
        db.session.flush()
        _current().pop(process_id, None)
        audit.record("definition_deployed", actor=actor, details={
            "process_id": process_id, "version": row.version, "filename": filename,
            "content_hash": content_hash, "comment": comment or None})
        if refusals:
            audit.record("definition_gate_overridden", actor=actor, details={
                "process_id": process_id, "version": row.version, "reason": override_reason,
                "refusals": [r.as_dict() for r in refusals]})
        results.append(Deployed(process_id, row.version, True, row.id))
    if commit:
        db.session.commit()
    return results


def _is_new(bpmn: bytes, content_hash: str) -> bool:
    ids = [pid for pid, _ in parse_processes(bpmn)]
    known = set(db.session.execute(sa.select(ProcessDefinition.process_id).where(
        ProcessDefinition.process_id.in_(ids), ProcessDefinition.content_hash == content_hash)).scalars())
    return bool(set(ids) - known)


def validate(filename: str, bpmn: bytes, forms: dict[str, bytes], config) -> list[DeployProblem]:
    """Every problem that would refuse this diagram; deploys nothing."""
    return validate_bpmn(filename, bpmn, forms, config)


def latest(process_id: str) -> ProcessDefinition | None:
    return db.session.execute(
        sa.select(ProcessDefinition).filter_by(process_id=process_id)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Current:
    """What starting an instance needs of the newest definition, without loading its XML."""
    id: int
    process_id: str
    version: int
    content_hash: str
    filename: str


def current(process_id: str, max_age: float = 5.0) -> Current | None:
    """The newest version, remembered for `max_age` seconds (a deploy here forgets it at once;
    a deploy by another process is seen within `max_age`)."""
    rehearsal = isolation.active()  # a rehearsal's versions are its own: never cached
    cached = None if rehearsal else _current().get(process_id)
    if cached is not None and time.monotonic() - cached[1] < max_age:
        return cached[0]
    row = db.session.execute(
        sa.select(ProcessDefinition.id, ProcessDefinition.process_id, ProcessDefinition.version,
                  ProcessDefinition.content_hash, ProcessDefinition.filename)
        .filter_by(process_id=process_id).order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if row is None:
        return None
    found = Current(*row)
    if not rehearsal:
        _current()[process_id] = (found, time.monotonic())
    return found


def _current() -> dict[str, tuple[Current, float]]:
    """The newest version of each procedure, remembered for DEFINITION_CACHE_SECONDS (the app's)."""
    return caches.get("definitions.current", dict)


def get(definition_id: int) -> ProcessDefinition | None:
    return db.session.get(ProcessDefinition, definition_id)


@dataclass(frozen=True)
class Facts:
    """What reading a case or completing a task needs of a stored version, without its XML: a
    stored version never changes, so these are remembered by id for the app's life."""
    id: int
    process_id: str
    version: int
    forms: dict


def facts(definition_id: int) -> Facts:
    rehearsal = isolation.active()  # a rehearsal's ids are its own tables': never remembered
    cache = caches.get("definitions.facts", dict)
    found = None if rehearsal else cache.get(definition_id)
    if found is None:
        row = db.session.execute(sa.select(ProcessDefinition.id, ProcessDefinition.process_id,
                                           ProcessDefinition.version, ProcessDefinition.forms)
                                 .where(ProcessDefinition.id == definition_id)).first()
        if row is None:
            raise LookupError(f"no process definition {definition_id}")
        found = Facts(row.id, row.process_id, row.version, dict(row.forms or {}))
        if not rehearsal:
            cache[definition_id] = found
    return found


def all_latest() -> list[ProcessDefinition]:
    newest = (sa.select(ProcessDefinition.process_id, sa.func.max(ProcessDefinition.version).label("v"))
              .group_by(ProcessDefinition.process_id).subquery())
    return list(db.session.execute(
        sa.select(ProcessDefinition).join(newest, sa.and_(
            ProcessDefinition.process_id == newest.c.process_id,
            ProcessDefinition.version == newest.c.v)).order_by(ProcessDefinition.process_id)
    ).scalars())


def spec_by_id(definition_id: int):
    """The parsed (spec, subprocess_specs) of a stored definition. A stored version never changes,
    so its identity is remembered by id: reading or stepping an instance loads no definition row."""
    rehearsal = isolation.active()  # a rehearsal's ids are its own tables': never remembered
    head = None if rehearsal else _heads().get(definition_id)
    if head is None:
        head = db.session.execute(sa.select(ProcessDefinition.id, ProcessDefinition.process_id,
                                            ProcessDefinition.content_hash)
                                  .where(ProcessDefinition.id == definition_id)).first()
        if head is None:
            raise LookupError(f"no process definition {definition_id}")
        if not rehearsal:
            _heads()[definition_id] = head
    return spec_for(head)


def _heads() -> dict[int, tuple]:
    """(id, process id, content hash) of stored definitions by id (the app's)."""
    return caches.get("definitions.heads", dict)


# Parsed specs by (process id, content hash): the same content parses to the same spec.
_SPEC_CACHE: dict[tuple[str, str], tuple[object, dict]] = {}


def spec_for(definition):
    """The parsed (spec, subprocess_specs) of a definition, parsed once per process."""
    key = (definition.process_id, definition.content_hash)
    cached = _SPEC_CACHE.get(key)
    if cached is None:
        if not hasattr(definition, "bpmn_xml"):
            definition = get(definition.id)
        parser = EngineParser()
        parser.add_bpmn_str(definition.bpmn_xml.encode("utf-8"), filename=definition.filename)
        cached = (parser.get_spec(definition.process_id),
                  parser.get_subprocess_specs(definition.process_id))
        _SPEC_CACHE[key] = cached
    return cached


def form_schema(definition: ProcessDefinition | Facts, form_name: str | None) -> dict | None:
    if not form_name:
        return None
    return (definition.forms or {}).get(form_name)


def _read_named_forms(bpmn: bytes, forms_dir: Path) -> dict[str, bytes]:
    from .validation import form_names
    forms = {}
    for name in form_names(bpmn):
        candidate = forms_dir / name
        if _is_plain_name(name) and candidate.is_file():
            forms[name] = candidate.read_bytes()
    return forms


def _is_plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def _content_hash(bpmn: bytes, forms: dict) -> str:
    digest = hashlib.sha256(bpmn)
    digest.update(json.dumps(forms, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


__all__ = ["BPMN_NS", "DeployError", "GateRefused", "GATES", "ProcessDefinition", "deploy", "deploy_file",
           "deploy_directory", "validate", "latest", "spec_for", "form_schema", "all_latest", "Facts", "facts"]
