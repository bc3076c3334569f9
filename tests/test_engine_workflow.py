"""The engine's workflow answers as SpiffWorkflow's own: a parallel join, also inside a loop,
waits for every branch each time round, and every new instance starts from the same predicted
tasks SpiffWorkflow predicts (the engine copies them from the first instance of a spec)."""
import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.specs import EngineParallelGateway, EngineParser
from engine.workflow import EngineWorkflow

# Three rounds of: fork into two branches of different lengths, join, count the round.
LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="rounds" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="merge"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>again</bpmn:incoming>
      <bpmn:outgoing>f0</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:parallelGateway id="fork"><bpmn:incoming>f0</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:scriptTask id="short"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>a = rounds</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="long_1"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:script>b = rounds</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="long_2"><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f6</bpmn:incoming>
      <bpmn:outgoing>f7</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:scriptTask id="count"><bpmn:incoming>f7</bpmn:incoming><bpmn:outgoing>f8</bpmn:outgoing>
      <bpmn:script>rounds = rounds + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="more" default="done"><bpmn:incoming>f8</bpmn:incoming>
      <bpmn:outgoing>again</bpmn:outgoing><bpmn:outgoing>done</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>done</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="merge" />
    <bpmn:sequenceFlow id="f0" sourceRef="merge" targetRef="fork" />
    <bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="short" />
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="long_1" />
    <bpmn:sequenceFlow id="f4" sourceRef="short" targetRef="join" />
    <bpmn:sequenceFlow id="f5" sourceRef="long_1" targetRef="long_2" />
    <bpmn:sequenceFlow id="f6" sourceRef="long_2" targetRef="join" />
    <bpmn:sequenceFlow id="f7" sourceRef="join" targetRef="count" />
    <bpmn:sequenceFlow id="f8" sourceRef="count" targetRef="more" />
    <bpmn:sequenceFlow id="again" sourceRef="more" targetRef="merge">
      <bpmn:conditionExpression>rounds &lt; 3</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="done" sourceRef="more" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def _spec(parser_class, tmp_path):
    path = tmp_path / f"rounds_{parser_class.__name__}.bpmn"
    path.write_text(LOOP)
    parser = parser_class()
    parser.add_bpmn_files([str(path)])
    return parser.get_spec("rounds"), parser.get_subprocess_specs("rounds")


def _tree(workflow):
    """Every task as (depth, task spec, state), depth first: the whole shape of the run."""
    return [(task.depth, task.task_spec.name, TaskState.get_name(task.state))
            for task in BpmnWorkflow.get_tasks(workflow)]


def _run(workflow):
    """Start, then complete the user task each round; the tree after every step."""
    trees = []
    workflow.task_tree.data.update(rounds=0)
    workflow.do_engine_steps()
    trees.append(_tree(workflow))
    while not workflow.is_completed():
        waiting = workflow.get_tasks(state=TaskState.READY, manual=True)
        assert len(waiting) == 1, "the join let the round end before its long branch did"
        waiting[0].run()
        workflow.do_engine_steps()
        trees.append(_tree(workflow))
    return trees, workflow.get_tasks(spec_name="end")[0].data


def test_a_parallel_join_in_a_loop_waits_for_every_branch_each_round_as_spiffworkflows_does(tmp_path):
    spiff_spec = _spec(SpiffBpmnParser, tmp_path)
    engine_spec = _spec(EngineParser, tmp_path)
    assert isinstance(engine_spec[0].task_specs["join"], EngineParallelGateway)

    expected = _run(BpmnWorkflow(*spiff_spec, script_engine=PythonScriptEngine()))
    # Twice: the first instance of a spec predicts its tree, the second starts from the copy.
    for _ in range(2):
        got = _run(EngineWorkflow(*engine_spec, script_engine=PythonScriptEngine()))
        assert got == expected
    trees, data = got
    assert data["rounds"] == 3 and len(trees) == 4  # three rounds, each waiting on the user task


@pytest.mark.parametrize("diagram", ["sample.bpmn", "timer_decision.bpmn", "message_permit.bpmn"])
def test_a_new_instance_starts_with_the_tasks_spiffworkflow_predicts(diagram):
    from pathlib import Path
    path = Path(__file__).resolve().parent / "bpmn" / diagram
    parser = EngineParser()
    parser.add_bpmn_files([str(path)])
    process_id = next(iter(parser.get_process_ids()))
    spec, subprocess_specs = parser.get_spec(process_id), parser.get_subprocess_specs(process_id)
    predicted = BpmnWorkflow(spec, subprocess_specs)  # SpiffWorkflow's own start
    for _ in range(2):
        workflow = EngineWorkflow(spec, subprocess_specs)
        assert _tree(workflow) == _tree(predicted)
        assert [t.id for t in workflow.tasks.values()] != [t.id for t in predicted.tasks.values()]
