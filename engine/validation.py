"""What a diagram must satisfy before it is deployed.

Each check returns problems naming the element id and the reason; deploy refuses a
diagram with any problem and stores nothing.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser import VALIDATOR, SpiffBpmnParser

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "bpmndi": DI_NS, "spiffworkflow": SPIFF_NS}

FLOW_NODE_TAGS = (
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction", "exclusiveGateway",
    "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
)
HUMAN_TASK_TAGS = ("userTask", "manualTask")
FORM_PROPERTY = "formJsonSchemaFilename"


@dataclass(frozen=True)
class DeployProblem:
    element_id: str
    reason: str

    def __str__(self):
        return f"{self.element_id}: {self.reason}"

    def as_dict(self):
        return {"element_id": self.element_id, "reason": self.reason}


def validate_bpmn(filename: str, bpmn: bytes, forms: dict[str, bytes], config) -> list[DeployProblem]:
    try:
        root = etree.fromstring(bpmn, parser=_safe_parser())
    except etree.XMLSyntaxError as err:
        return [DeployProblem(filename, f"not well-formed XML: {err}")]
    if root.getroottree().docinfo.doctype:
        # SpiffWorkflow parses with lxml's defaults; entities have no place in BPMN.
        return [DeployProblem(filename, "a DOCTYPE (and so entity declarations) is not allowed in a diagram")]
    problems = _schema_problems(filename, bpmn)
    if problems:
        return problems
    if not root.findall("bpmn:process", NS):
        return [DeployProblem(filename, "the file defines no bpmn:process")]
    if not any(p.get("isExecutable") == "true" for p in root.findall("bpmn:process", NS)):
        problems.append(DeployProblem(filename, "no process is marked isExecutable=\"true\""))
    for check in CHECKS:
        problems.extend(check(root, forms, config))
    if not problems:
        problems.extend(_parse_problems(filename, bpmn))
    return problems


def parse_processes(bpmn: bytes) -> list[tuple[str, str | None]]:
    root = etree.fromstring(bpmn, parser=_safe_parser())
    return [(p.get("id"), p.get("name")) for p in root.findall("bpmn:process", NS)
            if p.get("isExecutable") == "true"]


def form_names(bpmn: bytes) -> list[str]:
    try:
        root = etree.fromstring(bpmn, parser=_safe_parser())
    except etree.XMLSyntaxError:
        return []
    return sorted({name for _, name in _forms_by_task(root)})


def check_diagram_interchange(root, forms, config):
    """Every flow node has a shape and every flow an edge, so the file opens in a modeler."""
    shapes = {s.get("bpmnElement") for s in root.iter(f"{{{DI_NS}}}BPMNShape")}
    edges = {e.get("bpmnElement") for e in root.iter(f"{{{DI_NS}}}BPMNEdge")}
    problems = []
    for tag in FLOW_NODE_TAGS:
        for node in root.iter(f"{{{BPMN_NS}}}{tag}"):
            if node.get("id") not in shapes:
                problems.append(DeployProblem(node.get("id"), f"{tag} has no diagram shape (BPMNShape)"))
    for flow in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        if flow.get("id") not in edges:
            problems.append(DeployProblem(flow.get("id"), "sequence flow has no diagram edge (BPMNEdge)"))
    return problems


def check_operators(root, forms, config):
    from . import operators
    known = operators.names()
    problems = []
    for task in root.iter(f"{{{BPMN_NS}}}serviceTask"):
        op = task.find(".//spiffworkflow:serviceTaskOperator", NS)
        if op is None:
            problems.append(DeployProblem(task.get("id"), "service task names no operator "
                                          "(spiffworkflow:serviceTaskOperator)"))
        elif op.get("id") not in known:
            problems.append(DeployProblem(task.get("id"),
                                          f"no handler is registered for operator {op.get('id')!r}"))
    return problems


def check_lanes(root, forms, config):
    """A person must be able to see every user task: its lane maps to a role."""
    lane_roles = config.get("LANE_ROLES") or {}
    lane_of = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            lane_of[(ref.text or "").strip()] = lane
    problems = []
    for tag in HUMAN_TASK_TAGS:
        for task in root.iter(f"{{{BPMN_NS}}}{tag}"):
            lane = lane_of.get(task.get("id"))
            if lane is None:
                problems.append(DeployProblem(task.get("id"), f"{tag} is in no lane, so no role can do it"))
            elif lane.get("name") not in lane_roles:
                problems.append(DeployProblem(
                    lane.get("id"), f"lane {lane.get('name')!r} has a {tag} ({task.get('id')}) but maps to "
                                    f"no role (configure LANE_ROLES)"))
    return problems


def check_forms(root, forms, config):
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    problems = []
    for task_id, name in _forms_by_task(root):
        if "/" in name or "\\" in name or name.startswith("."):
            problems.append(DeployProblem(task_id, f"form file {name!r} must be a plain file name"))
        elif name not in forms:
            problems.append(DeployProblem(task_id, f"form file {name!r} does not exist"))
        else:
            try:
                Draft202012Validator.check_schema(json.loads(forms[name]))
            except (ValueError, SchemaError) as err:
                problems.append(DeployProblem(task_id, f"form file {name!r} is not a valid JSON Schema: "
                                                       f"{getattr(err, 'message', err)}"))
    return problems


def check_expressions(root, forms, config):
    """Expressions are untrusted: every one passes the allowlist before it can run."""
    from .expressions import iter_bpmn_expressions
    return _expression_problems(iter_bpmn_expressions(root))


def check_parsed_expressions(process_specs) -> list[DeployProblem]:
    """The same checks on every expression SpiffWorkflow's parser put into the specs (signal,
    error and escalation payloads, correlations, loop and timer expressions...), so a site the
    XML walk does not know is still checked before anything runs."""
    from .expressions import iter_spec_expressions
    return _expression_problems(iter_spec_expressions(process_specs))


def _expression_problems(expressions) -> list[DeployProblem]:
    from .expressions import check_expression, literal_type_problem
    problems = []
    for element_id, kind, source, mode in expressions:
        reasons = check_expression(source, mode)
        if not reasons and mode == "eval":
            wrong_type = literal_type_problem(kind, source)
            reasons = [wrong_type] if wrong_type else []
        for reason in reasons:
            problem = DeployProblem(element_id, reason if reason.startswith(kind) else f"{kind}: {reason}")
            if problem not in problems:
                problems.append(problem)
    return problems


def check_timers_behind_event_gateways(root, forms, config):
    """SpiffWorkflow keeps one due-time slot for all of an event-based gateway's timers."""
    gateways = {g.get("id") for g in root.iter(f"{{{BPMN_NS}}}eventBasedGateway")}
    behind = {f.get("targetRef"): f.get("sourceRef") for f in root.iter(f"{{{BPMN_NS}}}sequenceFlow")
              if f.get("sourceRef") in gateways}
    return [DeployProblem(event.get("id"), f"timer behind the event-based gateway {behind[event.get('id')]}: "
                                           f"wait in a catch event or receive task with a boundary timer instead")
            for event in root.iter(f"{{{BPMN_NS}}}intermediateCatchEvent")
            if event.get("id") in behind and event.find("bpmn:timerEventDefinition", NS) is not None]


def check_timer_time_zones(root, forms, config):
    """A due time without a zone is ambiguous (SpiffWorkflow would take the server's zone)."""
    problems = []
    for tag in ("timeDate", "timeCycle"):
        for node in root.iter(f"{{{BPMN_NS}}}{tag}"):
            event = node.getparent().getparent() if node.getparent() is not None else node
            for literal in _times_without_zone(node.text or ""):
                problems.append(DeployProblem(event.get("id") or tag, f"{tag} {literal!r} has no time zone: "
                                                                      f"give an offset (+05:00) or Z"))
    return problems


def check_messages(root, forms, config):
    """A waiting message names a bpmn:message and correlates on a safe expression (engine.messages);
    a message thrown by the diagram would reach no one, so sending is the messages.send operator's."""
    from .expressions import check_expression
    named = {m.get("id"): m.get("name") for m in root.iter(f"{{{BPMN_NS}}}message")}
    problems = []
    for node, ref, throws in _message_nodes(root):
        tag = etree.QName(node).localname
        if throws:
            problems.append(DeployProblem(node.get("id"), f"{tag} throws a message, which no instance would "
                                                          f"receive: use a service task with the messages.send operator"))
            continue
        if not named.get(ref):
            problems.append(DeployProblem(node.get("id"), f"{tag} waits for a message but names no bpmn:message "
                                                          f"with a name (messageRef)"))
        for prop in node.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS):
            if prop.get("name") == "correlation":
                for reason in check_expression(prop.get("value") or "", "eval"):
                    problems.append(DeployProblem(node.get("id"), f"correlation: {reason}"))
    return problems


def check_loop_cardinality(root, forms, config):
    """A multi-instance creates its instances at once: a literal count above the bound is refused
    here (an evaluated one is bounded when it runs, see EngineScriptEngine)."""
    limit = int(config.get("ENGINE_MAX_CARDINALITY", 1000))
    problems = []
    for loop in root.iter(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics"):
        cardinality = loop.find("bpmn:loopCardinality", NS)
        text = (cardinality.text or "").strip() if cardinality is not None else ""
        try:
            value = ast.literal_eval(text) if text else None
        except (ValueError, SyntaxError):
            continue  # an expression: checked by the expression allowlist, bounded at run time
        element = loop.getparent().get("id")
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(DeployProblem(element, f"loopCardinality {text!r} is not a whole number"))
        elif not 0 <= value <= limit:
            problems.append(DeployProblem(element, f"loopCardinality {value} is more than the {limit} "
                                                   f"instances a multi-instance may create (ENGINE_MAX_CARDINALITY)"))
    return problems


CHECKS = [check_diagram_interchange, check_operators, check_lanes, check_forms, check_expressions,
          check_timers_behind_event_gateways, check_timer_time_zones, check_messages,
          check_loop_cardinality]


def _message_nodes(root):
    """(element, messageRef, throws) for every event or task that waits for or throws a message."""
    for tag, throws in (("startEvent", False), ("intermediateCatchEvent", False), ("boundaryEvent", False),
                        ("intermediateThrowEvent", True), ("endEvent", True)):
        for node in root.iter(f"{{{BPMN_NS}}}{tag}"):
            definition = node.find("bpmn:messageEventDefinition", NS)
            if definition is not None:
                yield node, definition.get("messageRef"), throws
    for tag, throws in (("receiveTask", False), ("sendTask", True)):
        for node in root.iter(f"{{{BPMN_NS}}}{tag}"):
            definition = node.find("bpmn:messageEventDefinition", NS)
            ref = node.get("messageRef") or (definition.get("messageRef") if definition is not None else None)
            if ref is not None or definition is not None or not throws:
                yield node, ref, throws


def _times_without_zone(source):
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return []  # check_expressions reports it
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for part in node.value.strip().split("/"):  # a cycle: R3/start/duration
                if not re.match(r"^\d{4}-\d{2}-\d{2}", part):
                    continue
                try:
                    naive = datetime.fromisoformat(part).tzinfo is None
                except ValueError:
                    continue  # not a time this check can judge; the engine refuses it when run
                if naive:
                    found.append(part)
    return found


def _safe_parser():
    # Uploaded diagrams are untrusted: no entity expansion, no network, no huge trees.
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def _forms_by_task(root):
    for tag in HUMAN_TASK_TAGS:
        for task in root.iter(f"{{{BPMN_NS}}}{tag}"):
            for prop in task.iterfind(".//spiffworkflow:property", NS):
                if prop.get("name") == FORM_PROPERTY:
                    yield task.get("id"), prop.get("value") or ""


def _schema_problems(filename, bpmn):
    parser = SpiffBpmnParser(validator=VALIDATOR)
    try:
        parser.add_bpmn_str(bpmn, filename=filename)
    except ValidationException as err:
        return [DeployProblem(getattr(err, "id", "") or filename, _reason(err))]
    except etree.XMLSyntaxError as err:
        return [DeployProblem(filename, f"not well-formed XML: {err}")]
    return []


def _parse_problems(filename, bpmn):
    parser = SpiffBpmnParser()
    specs = []
    try:
        parser.add_bpmn_str(bpmn, filename=filename)
        for process_id, _ in parse_processes(bpmn):
            specs.append(parser.get_spec(process_id))
            specs.extend(parser.get_subprocess_specs(process_id).values())
    except ValidationException as err:
        return [DeployProblem(getattr(err, "id", "") or filename, _reason(err))]
    except Exception as err:  # the parser raises plain errors for some malformed models
        return [DeployProblem(filename, f"{type(err).__name__}: {err}")]
    return check_parsed_expressions(specs)


def _reason(err):
    line = getattr(err, "line_number", "")
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return f"{text} (line {line})" if line else text
