"""Scenarios: recorded cases that every new version of a procedure must still decide the same way.

A scenario file (processes/scenarios/*.json) holds the events of one case in order — filing,
clock moves, police replies, officer decisions, consents, a revocation — each at its moment,
and the outcome and grounds it must end with. `rehearse` replays every scenario touching a
candidate diagram against it in a rehearsal (engine.isolation: fresh tables in a transaction
rolled back at the end, simulators for the other systems, the clock set by the scenario),
and names each scenario that went another way and the step where it did. A deploy runs it
first (the gate registered by `handlers.init_app`).

Step actions: `file` (an application or a revocation), `sweep` (what the scheduler does at
that moment: jobs, timers, due police replies and notifications), `decide` (a person completes
a task with a form), `message` (a message from another system, e.g. the employer's consent),
`police_reply`, `reference` (the administered lists change). Jobs run after every action, as
a worker would within a second. Each step and the scenario may say what must hold after it
(`expect`: outcome, open tasks, escalated tasks, the permit's status).
"""
from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app

from engine import clock, definitions, isolation, messages, scheduler, tasks, timers
from engine.db import db

ACTIONS = ("file", "sweep", "decide", "message", "police_reply", "reference")
EXPECTATIONS = ("outcome", "open_tasks", "escalated", "permit_status")
# A rehearsal never talks to another system and never waits for a simulated answer.
REHEARSAL_CONFIG = {"POLICE_ADAPTER": "simulator", "POLICE_SIMULATOR_DELAY_SECONDS": 0,
                    "ESUTD_ADAPTER": "simulator", "NOTIFY_ADAPTER": "simulator"}
SHARED_FILES = ("applications.json", "reference.json")


class ScenarioError(ValueError):
    """A scenario file that cannot be replayed as written (its path and the reason)."""


@dataclass
class Scenario:
    name: str
    description: str
    procedures: list[str]
    steps: list[dict]
    expect: dict
    reference: dict = field(default_factory=dict)
    contracts: list = field(default_factory=list)


@dataclass
class Divergence:
    """Where a replayed scenario went another way than it is written."""
    scenario: str
    step: int  # 1-based; len(steps) + 1 is the scenario's final expectation
    action: str
    expected: Any
    got: Any

    def __str__(self):
        return (f"scenario {self.scenario!r}, step {self.step} ({self.action}): expected {_show(self.expected)}, "
                f"got {_show(self.got)}")

    def as_dict(self):
        return {"scenario": self.scenario, "step": self.step, "action": self.action,
                "expected": self.expected, "got": self.got, "message": str(self)}


# --- reading the files ------------------------------------------------------------------------

def directory(config) -> Path:
    return Path(config["SCENARIOS_DIR"])


def load_all(folder: str | Path) -> list[Scenario]:
    folder = Path(folder)
    return [load(path) for path in sorted(folder.glob("*.json")) if path.name not in SHARED_FILES]


def load(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ScenarioError(f"{path.name}: not readable JSON: {err}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path.name}: a scenario is a JSON object")
    steps = raw.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(f"{path.name}: `steps` must be a non-empty list")
    for number, step in enumerate(steps, 1):
        actions = [a for a in ACTIONS if a in step] if isinstance(step, dict) else []
        if len(actions) != 1:
            raise ScenarioError(f"{path.name}: step {number} must have exactly one of {', '.join(ACTIONS)}")
        if not isinstance(step.get("at"), str):
            raise ScenarioError(f"{path.name}: step {number} needs `at`, the moment it happens (ISO with zone)")
        _moment(step["at"], f"{path.name}: step {number}")
        _check_expect(step.get("expect", {}), f"{path.name}: step {number}")
    _check_expect(raw.get("expect", {}), f"{path.name}: expect")
    if not raw.get("expect"):
        raise ScenarioError(f"{path.name}: `expect` must say how the case ends")
    procedures = raw.get("procedures")
    if not isinstance(procedures, list) or not procedures:
        raise ScenarioError(f"{path.name}: `procedures` must list the process ids the scenario runs")
    return Scenario(name=path.stem, description=str(raw.get("description", "")), procedures=procedures,
                    steps=steps, expect=raw["expect"], reference=raw.get("reference") or {},
                    contracts=raw.get("contracts") or [])


def _check_expect(expect, where):
    if not isinstance(expect, dict):
        raise ScenarioError(f"{where}: `expect` must be an object")
    unknown = set(expect) - set(EXPECTATIONS) - {"case"}
    if unknown:
        raise ScenarioError(f"{where}: unknown expectation(s) {', '.join(sorted(unknown))}")


def _moment(text: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ScenarioError(f"{where}: `at` {text!r} is not an ISO date-time") from None
    if moment.tzinfo is None:
        raise ScenarioError(f"{where}: `at` {text!r} has no zone (give +05:00)")
    return moment


# --- the gate ---------------------------------------------------------------------------------

def gate(filename: str, bpmn: bytes, forms: dict[str, bytes], config) -> list[Divergence]:
    """What a deploy asks before it stores a new version: the scenarios it would break."""
    if not config.get("SCENARIO_GATE", True):
        return []
    return rehearse([(filename, bpmn, forms)], config)


def rehearse(candidates: list[tuple[str, bytes, dict]], config, scenarios: list[Scenario] | None = None
             ) -> list[Divergence]:
    """Replay the scenarios touching the candidates' processes (or those given) against the
    newest deployed versions with the candidates deployed over them; nothing is kept."""
    from engine.validation import parse_processes
    candidate_ids = {pid for _, bpmn, _ in candidates for pid, _ in parse_processes(bpmn)}
    newest = [row for row in definitions.all_latest() if row.process_id not in candidate_ids]
    if scenarios is None:
        # A scenario needing a procedure that is not deployed yet cannot pass today: not asked.
        available = candidate_ids | {row.process_id for row in newest}
        scenarios = [s for s in load_all(directory(config))
                     if candidate_ids & set(s.procedures) and set(s.procedures) <= available]
    if not scenarios:
        return []
    live = [(row.filename, row.bpmn_xml.encode("utf-8"),
             {name: json.dumps(schema).encode() for name, schema in (row.forms or {}).items()})
            for row in newest]
    app = current_app._get_current_object()
    found: list[Divergence] = []
    with isolation.isolated(REHEARSAL_CONFIG) as conn, app.app_context():
        for filename, bpmn, forms in live + candidates:
            definitions.deploy(filename, bpmn, forms, app.config, actor="rehearsal")
        for scenario in scenarios:
            savepoint = conn.begin_nested()
            try:
                found.extend(_replay(scenario, app))
            finally:
                db.session.remove()
                savepoint.rollback()
    return found


# --- replaying one scenario -------------------------------------------------------------------

class _Diverged(Exception):
    def __init__(self, divergence: Divergence):
        self.divergence = divergence


def _replay(scenario: Scenario, app) -> list[Divergence]:
    shared = _shared(directory(app.config))
    replay = _Replay(scenario, app, shared)
    try:
        replay.given()
        for number, step in enumerate(scenario.steps, 1):
            replay.step(number, step)
        replay.check(len(scenario.steps) + 1, "end", scenario.expect)
    except _Diverged as stop:
        return [stop.divergence]
    return []


def _shared(folder: Path) -> dict:
    found = {}
    for name in SHARED_FILES:
        path = folder / name
        found[name] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    return found


class _Replay:
    def __init__(self, scenario: Scenario, app, shared: dict):
        self.scenario, self.app, self.shared = scenario, app, shared
        self.cases: dict[str, str] = {}  # label -> case id
        self.last_label: str | None = None

    def given(self):
        from . import reference
        reference.load(with_changes(self.shared["reference.json"], self.scenario.reference), actor="rehearsal",
                       regions=self.app.config["REGIONS"])
        for contract in self.scenario.contracts:
            reference.add_contract(actor="rehearsal", **contract)
        db.session.commit()

    def step(self, number: int, step: dict):
        action = next(a for a in ACTIONS if a in step)
        at = _moment(step["at"], self.scenario.name)
        with clock.set_to(at):
            try:
                getattr(self, f"_{action}")(step[action] or {})
                scheduler.run_jobs()  # what a worker does within a second of the step
            except _Diverged:
                raise
            except Exception as err:  # the candidate made the step impossible: that is the finding
                db.session.rollback()
                raise _Diverged(Divergence(self.scenario.name, number, self._describe(action, step[action]),
                                           "the step to be possible", f"{type(err).__name__}: {err}")) from None
            self.check(number, self._describe(action, step[action]), step.get("expect") or {})
        db.session.remove()

    # actions

    def _file(self, spec):
        from . import cases, permits
        label = spec.get("case") or spec.get("kind")
        kind = spec["kind"]
        if kind == "revocation":
            permit_no = self._permit_of(spec["permit_of"])
            found = permits.get_permit(permit_no)
            data = {"region": found.region, "kind": "revocation", "permit_no": permit_no,
                    "revocation": {"ground": spec["ground"], "details": spec.get("details", ""),
                                   "initiator": spec["initiator"]},
                    "filed_at": clock.now().isoformat()}
            case = cases.open_case("revocation", self.app.config["PROCEDURES"]["revocation"], data, region=found.region,
                                   created_by="rehearsal", permit_no=permit_no, applicant_iin=found.holder_iin,
                                   applicant_name=found.holder_name)
        else:
            body = self._application(spec)
            process_id = self.app.config["PROCEDURES"][kind]
            case = cases.open_case(
                kind, process_id, {"region": body["region"], "kind": kind, "application": body,
                                   "filed_at": clock.now().isoformat()},
                region=body["region"], created_by="rehearsal", application_no=body["application_no"],
                channel=body["channel"], applicant_iin=body["applicant"]["iin"],
                applicant_name=f"{body['applicant']['last_name']} {body['applicant']['first_name']}",
                permit_no=body.get("permit_no"))
        self.cases[label] = case.id
        self.last_label = label

    def _sweep(self, spec):
        scheduler.run_jobs()
        timers.run_due()
        scheduler.run_hooks(self.app)

    def _decide(self, spec):
        case_id = self._case(spec.get("case"))
        bpmn_id = spec.get("task", "decide")
        task = db.session.execute(sa.select(tasks.HumanTask).filter_by(
            instance_id=case_id, bpmn_id=bpmn_id, status="ready")).scalar_one_or_none()
        if task is None:
            raise LookupError(f"no open task {bpmn_id!r} to decide (open: {self._open_tasks(case_id) or 'none'})")
        person = spec.get("by") or {}
        actor = tasks.Actor(person.get("user", "rehearsal.officer"), frozenset(person.get("roles", ["officer"])),
                            frozenset([person.get("region", task.region)]))
        tasks.claim(task.id, actor)
        tasks.complete(task.id, actor, spec.get("form") or {})

    def _message(self, spec):
        payload = copy.deepcopy(spec.get("payload") or {})
        delivery = messages.deliver(spec["name"], self._case(spec.get("case")), payload,
                                    message_id=f"rehearsal-{uuid.uuid4()}", actor="rehearsal")
        if delivery.status != "delivered" and spec.get("must_be_caught", True):
            raise LookupError(f"message {spec['name']!r} was not taken: {delivery.status}")

    def _police_reply(self, spec):
        self._message({"name": "police_reply", "case": spec.get("case"),
                       "payload": {"verdict": spec["verdict"], "reason": spec.get("reason")},
                       "must_be_caught": spec.get("must_be_caught", True)})

    def _reference(self, spec):
        from . import reference
        reference.load(spec, actor="rehearsal", regions=self.app.config["REGIONS"])
        db.session.commit()

    # what must hold

    def check(self, number: int, action: str, expect: dict):
        if not expect:
            return
        from . import cases, permits
        db.session.remove()
        case_id = self._case(expect.get("case"))
        case = cases.get(case_id)
        if "outcome" in expect:
            wanted, got = _outcome(expect["outcome"]), _outcome(case.outcome, instance=case_id)
            if wanted != got:
                self._diverged(number, action, {"outcome": wanted}, {"outcome": got})
        if "open_tasks" in expect:
            got = self._open_tasks(case_id)
            if sorted(expect["open_tasks"]) != got:
                self._diverged(number, action, {"open_tasks": sorted(expect["open_tasks"])}, {"open_tasks": got})
        if "escalated" in expect:
            got = sorted(t.bpmn_id for t in self._ready(case_id) if t.escalated)
            if sorted(expect["escalated"]) != got:
                self._diverged(number, action, {"escalated": sorted(expect["escalated"])}, {"escalated": got})
        if "permit_status" in expect:
            permit = permits.get_permit(case.permit_no) if case.permit_no else None
            got = permit.status if permit is not None else None
            if expect["permit_status"] != got:
                self._diverged(number, action, {"permit_status": expect["permit_status"]}, {"permit_status": got})

    def _diverged(self, number, action, expected, got):
        raise _Diverged(Divergence(self.scenario.name, number, action, expected, got))

    # helpers

    def _case(self, label: str | None) -> str:
        label = label or self.last_label
        if label not in self.cases:
            raise LookupError(f"no case {label!r} was filed before this step")
        return self.cases[label]

    def _permit_of(self, label: str) -> str:
        from . import cases
        number = cases.get(self._case(label)).permit_no
        if not number:
            raise LookupError(f"case {label!r} has no permit")
        return number

    def _application(self, spec) -> dict:
        bases = self.shared["applications.json"]
        if spec.get("application") not in bases:
            raise LookupError(f"no application {spec.get('application')!r} in applications.json")
        body = with_changes(bases[spec["application"]], spec.get("changes") or {})
        return self._substituted(body)

    def _substituted(self, value):
        """`$permit:<case>` in an application stands for the permit number that case issued."""
        if isinstance(value, str) and value.startswith("$permit:"):
            return self._permit_of(value.split(":", 1)[1])
        if isinstance(value, dict):
            return {k: self._substituted(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._substituted(v) for v in value]
        return value

    def _ready(self, case_id):
        return list(db.session.execute(sa.select(tasks.HumanTask).filter_by(
            instance_id=case_id, status="ready")).scalars())

    def _open_tasks(self, case_id) -> list[str]:
        return sorted(t.bpmn_id for t in self._ready(case_id))

    @staticmethod
    def _describe(action, spec) -> str:
        spec = spec or {}
        detail = {"file": lambda: spec.get("kind", ""), "decide": lambda: spec.get("task", "decide"),
                  "message": lambda: spec.get("name", ""), "police_reply": lambda: spec.get("verdict", ""),
                  "sweep": lambda: "", "reference": lambda: ""}[action]()
        return f"{action} {detail}".strip()


def _outcome(outcome, instance: str | None = None):
    if not outcome:
        if instance is not None:
            from engine import instances
            status = instances.get(instance).status
            return None if status == "in_progress" else {"code": None, "instance_status": status}
        return None
    return {"code": outcome.get("code"), "grounds": sorted(
        g if isinstance(g, str) else g.get("code") for g in outcome.get("grounds") or [])}


def with_changes(base: dict, changes: dict) -> dict:
    """A copy of `base` with `changes` applied; a key `a__b` sets base["a"]["b"]."""
    body = copy.deepcopy(base)
    for path, value in changes.items():
        target = body
        keys = path.split("__")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = copy.deepcopy(value)
    return body


def _show(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
