"""Issue 15: every place SpiffWorkflow evaluates diagram text is checked at deploy; values of the
wrong type become the task's error (an incident), not a crash; data cannot shadow builtins; the
stored-size check costs what the value holds, not what it would print."""
import ast
import pathlib

import pytest
import SpiffWorkflow
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.spiff.parser import SpiffBpmnParser

from engine import definitions
from engine.definitions import DeployError
from engine.expressions import (EVALUATION_SITES, LimitExceeded, SafeEnvironment, check_evaluated,
                                iter_spec_expressions)
from tests.conftest import SAMPLE_BPMN, SAMPLE_FORMS

SAMPLE = SAMPLE_BPMN.read_bytes()
FORMS = {"review.schema.json": (SAMPLE_FORMS / "review.schema.json").read_bytes()}
ESCAPE = "().__class__.__base__.__subclasses__()"

SIGNAL = b"""<bpmn:signal id="Signal_done" name="done">
    <bpmn:extensionElements>
      <spiffworkflow:payloadExpression>PAYLOAD</spiffworkflow:payloadExpression>
    </bpmn:extensionElements>
  </bpmn:signal>
  <bpmn:process id="sample_review\""""


def _with_signal_end(payload: str) -> bytes:
    """The sample diagram whose last event throws a signal carrying `payload`."""
    return (SAMPLE.replace(b'<bpmn:process id="sample_review"', SIGNAL.replace(b"PAYLOAD", payload.encode()), 1)
            .replace(b'<bpmn:endEvent id="end_done" name="Reviewed">',
                     b'<bpmn:intermediateThrowEvent id="end_done" name="Reviewed">')
            .replace(b'<bpmn:incoming>f13</bpmn:incoming>\n    </bpmn:endEvent>',
                     b'<bpmn:incoming>f13</bpmn:incoming>\n      <bpmn:signalEventDefinition signalRef="Signal_done" />'
                     b'\n    </bpmn:intermediateThrowEvent>'))


def _with_review_cardinality(source: str) -> bytes:
    return SAMPLE.replace(b'<bpmn:outgoing>f12</bpmn:outgoing>\n    </bpmn:userTask>',
                          b'<bpmn:outgoing>f12</bpmn:outgoing>\n      <bpmn:multiInstanceLoopCharacteristics>'
                          b'<bpmn:loopCardinality>' + source.encode() + b'</bpmn:loopCardinality>'
                          b'</bpmn:multiInstanceLoopCharacteristics>\n    </bpmn:userTask>')


def _refused(app, bpmn):
    with pytest.raises(DeployError) as caught:
        definitions.deploy("changed.bpmn", bpmn, FORMS, app.config, actor="test")
    return [(p.element_id, p.reason) for p in caught.value.problems]


def _specs(bpmn: bytes, process_id="sample_review"):
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(bpmn, filename="x.bpmn")
    return [parser.get_spec(process_id), *parser.get_subprocess_specs(process_id).values()]


# --- 9. every evaluation site is checked ---------------------------------------------------------

def test_an_escape_in_a_signal_payload_is_refused_at_deploy(app):
    problems = _refused(app, _with_signal_end(ESCAPE))
    assert any("payloadExpression" in reason and "__class__" in reason for _, reason in problems), problems


def test_a_safe_signal_payload_deploys(app):
    assert definitions.deploy("signal.bpmn", _with_signal_end("{'subject': subject}"), FORMS, app.config,
                              actor="test")


def test_the_parsed_specs_yield_the_signal_payload_the_xml_walk_once_missed():
    found = {(owner, kind, source) for owner, kind, source, _ in iter_spec_expressions(_specs(_with_signal_end(ESCAPE)))}
    assert ("end_done", "SignalEventDefinition expression", ESCAPE) in found
    kinds = {kind for _, kind, _, _ in iter_spec_expressions(_specs(SAMPLE))}
    assert {"conditionExpression", "parameter:decision"} <= kinds


def test_every_place_spiffworkflow_evaluates_diagram_text_is_a_known_checked_site():
    """Read SpiffWorkflow's own source: each call that evaluates or executes an expression must be
    in EVALUATION_SITES (and so read by iter_spec_expressions). A new site fails here."""
    root = pathlib.Path(SpiffWorkflow.__file__).parent
    found = set()
    for package in ("bpmn", "spiff"):
        for path in sorted((root / package).rglob("*.py")):
            module = str(path.relative_to(root))
            if module == "bpmn/script_engine/python_engine.py":  # the script engine itself dispatches
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("evaluate", "execute")):
                    continue
                receiver = ast.unparse(node.func.value)
                if receiver.endswith("environment"):
                    source = node.args[0]
                elif receiver.endswith("script_engine"):
                    keywords = {k.arg: k.value for k in node.keywords}
                    source = keywords.get("expression") or keywords.get("script") or node.args[1]
                else:
                    continue
                found.add((module, ast.unparse(source)))
    assert found == set(EVALUATION_SITES)


# --- 10. wrong types, shadowed builtins, the size check's cost ---------------------------------

def test_a_constant_loop_cardinality_of_the_wrong_type_is_refused_at_deploy(app):
    problems = _refused(app, _with_review_cardinality("[[0]]"))
    assert ("review", "loopCardinality must be a whole number, not a list") in problems
    assert any("loopCardinality" in r for _, r in _refused(app, _with_review_cardinality("'3'")))


TIMER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="x">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="work"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:loopCardinality>n</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>x = 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>d</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="wait" />
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


class _CheckingEngine(PythonScriptEngine):
    """How the engine's script engine calls check_evaluated (engine/script_engine.py, the lead's)."""

    def evaluate(self, task, expression, external_context=None):
        value = super().evaluate(task, expression, external_context)
        problem = check_evaluated(task.task_spec, expression, value)
        if problem is not None:
            raise WorkflowTaskException(problem, task=task)
        return value


def _run(data, engine_class):
    [spec] = _specs(TIMER.encode(), "p")
    workflow = BpmnWorkflow(spec, script_engine=engine_class(environment=SafeEnvironment()))
    workflow.get_tasks(spec_name="start")[0].data.update(data)
    workflow.do_engine_steps()
    return workflow


@pytest.mark.parametrize("data, reason", [
    ({"n": [[0]], "d": "PT1H"}, "loopCardinality must be a whole number, not a list"),
    ({"n": 1, "d": ["PT1H"]}, "timeDuration must give text (ISO 8601), not a list"),
])
def test_a_wrong_typed_cardinality_or_timer_value_is_the_tasks_error_not_a_crash(data, reason):
    with pytest.raises(Exception) as alone:  # what SpiffWorkflow does alone: a plain error, an HTTP 500
        _run(data, PythonScriptEngine)
    assert not isinstance(alone.value, WorkflowTaskException)
    with pytest.raises(WorkflowTaskException) as caught:  # with the check: the task's error, an incident
        _run(data, _CheckingEngine)
    assert reason in str(caught.value)
    assert _run({"n": 2, "d": "PT1H"}, _CheckingEngine).get_tasks(spec_name="wait")[0].state


def test_task_data_named_like_a_builtin_does_not_shadow_it():
    env = SafeEnvironment()
    assert env.evaluate("len(items) + max(items)", {"items": [1, 2, 3], "len": 7, "max": "x"}) == 6
    data = {"items": [1, 2], "sorted": 0}
    env.execute("n = len(sorted(items))", data)
    assert data == {"items": [1, 2], "sorted": 0, "n": 2}


class _CountingList(list):
    iterations = 0

    def __iter__(self):
        _CountingList.iterations += 1
        return super().__iter__()


def test_the_stored_size_check_walks_a_shared_list_once():
    env = SafeEnvironment()
    inner = _CountingList([0] * 1000)
    data = {"rows": [inner] * 100_000}
    _CountingList.iterations = 0
    with pytest.raises(LimitExceeded):
        env._check_stored_size(data, "task data")
    assert _CountingList.iterations <= 1
    with pytest.raises(LimitExceeded):
        env.execute("rows = [[0] * 100000] * 100000", {})
