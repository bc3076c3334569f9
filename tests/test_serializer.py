"""The stored workflow state: compact task rows restore exactly what SpiffWorkflow holds."""
import gzip
import json
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine import serializer
from engine.workflow import EngineTask, EngineWorkflow, search

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# A subprocess, a script, a user task with a waiting boundary timer: everything the rows carry.
DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="nested" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="prepare">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="sub_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:scriptTask id="count"><bpmn:incoming>s1</bpmn:incoming><bpmn:outgoing>s2</bpmn:outgoing>
        <bpmn:script>counted = len(items)</bpmn:script></bpmn:scriptTask>
      <bpmn:endEvent id="sub_end"><bpmn:incoming>s2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="count" />
      <bpmn:sequenceFlow id="s2" sourceRef="count" targetRef="sub_end" />
    </bpmn:subProcess>
    <bpmn:userTask id="review"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:boundaryEvent id="too_late" attachedToRef="review">
      <bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P30D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="lapsed"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare" />
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="review" />
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="too_late" targetRef="lapsed" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    path = tmp_path_factory.mktemp("bpmn") / "nested.bpmn"
    path.write_text(DIAGRAM)
    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(path)])
    return parser.get_spec("nested"), parser.get_subprocess_specs("nested")


def new_workflow(specs):
    workflow = EngineWorkflow(*specs, script_engine=PythonScriptEngine())
    workflow.task_tree.data.update({"items": ["a", "b"], "nested": {"deep": [1, 2]}})
    return workflow


def restored(workflow, specs):
    return serializer.load_state(serializer.dump_state(workflow), *specs, PythonScriptEngine())


def _own_serializer():
    own = BpmnWorkflowSerializer()
    own.registry.typenames[EngineWorkflow] = own.registry.typenames[BpmnWorkflow]
    own.registry.typenames[EngineTask] = own.registry.typenames[Task]
    return own


def full_state(workflow):
    """Everything SpiffWorkflow's own serializer records, but the spec."""
    dct = _own_serializer().to_dict(workflow)
    dct.pop("spec")
    dct.pop("subprocess_specs")
    return json.loads(json.dumps(dct, default=str))


def test_a_waiting_workflow_with_a_subprocess_and_a_timer_restores_exactly(specs):
    workflow = new_workflow(specs)
    workflow.do_engine_steps()
    assert workflow.subprocesses and workflow.waiting_events()
    copy = restored(workflow, specs)
    assert full_state(copy) == full_state(workflow)
    # The waiting timer is registered again, so the restored instance can still lapse.
    assert [e.event_type for e in copy.waiting_events()] == [e.event_type for e in workflow.waiting_events()]
    review = copy.get_tasks(state=TaskState.READY, manual=True)[0]
    assert review.data["counted"] == 2 and review.data["nested"] == {"deep": [1, 2]}


def test_a_restored_workflow_runs_on_to_the_same_end(specs):
    original, copy = new_workflow(specs), None
    original.do_engine_steps()
    copy = restored(original, specs)
    for workflow in (original, copy):
        task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
        task.set_data(decision="approve")
        task.run()
        workflow.do_engine_steps()
    assert copy.is_completed() and original.is_completed()
    assert copy.data == original.data
    assert full_state(restored(copy, specs))["tasks"].keys() == full_state(copy)["tasks"].keys()


def test_deleted_keys_stay_deleted(specs):
    workflow = new_workflow(specs)
    workflow.do_engine_steps()
    review = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    del review.data["items"]
    copy = restored(workflow, specs)
    assert "items" not in copy.get_task_from_id(review.id).data
    assert "items" in copy.get_task_from_id(review.parent.id).data


def test_children_in_another_order_than_created_are_kept(specs):
    workflow = new_workflow(specs)
    workflow.do_engine_steps()
    parent = next(t for t in workflow.get_tasks() if len(t._children) > 1)
    parent._children.reverse()
    copy = restored(workflow, specs)
    assert copy.get_task_from_id(parent.id)._children == parent._children
    assert full_state(copy) == full_state(workflow)


def test_the_state_is_rows_without_the_spec_and_smaller_than_spiffworkflows_own(specs):
    workflow = new_workflow(specs)
    workflow.do_engine_steps()
    blob = serializer.dump_state(workflow)
    dct = json.loads(gzip.decompress(blob))
    assert dct["serializer_version"] == serializer.STATE_FORMAT
    assert "spec" not in dct and isinstance(dct["tasks"], list)
    own = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    own.registry.typenames[EngineWorkflow] = own.registry.typenames[BpmnWorkflow]
    own.registry.typenames[EngineTask] = own.registry.typenames[Task]
    own = own.serialize_json(workflow, use_gzip=True)
    assert len(blob) < len(own)


def test_states_saved_in_the_previous_format_are_still_read():
    # Written once, by the writer that stored "specless-1.5" (engine/serializer.py before commit
    # 50592b7), for the diagram beside it waiting at its user task; the expected file is what
    # SpiffWorkflow's own serializer recorded of that workflow, spec aside.
    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(FIXTURES / "specless-1.5.bpmn")])
    specs = parser.get_spec("nested"), parser.get_subprocess_specs("nested")
    blob = (FIXTURES / "state-specless-1.5.json.gz").read_bytes()
    assert json.loads(gzip.decompress(blob))["serializer_version"] == serializer.LEGACY_FORMAT
    copy = serializer.load_state(blob, *specs, PythonScriptEngine())
    expected = json.loads((FIXTURES / "state-specless-1.5.expected.json").read_text())
    assert full_state(copy) == expected
    # ...and the old case runs on: the officer's task completes and the workflow ends.
    review = copy.get_tasks(state=TaskState.READY, manual=True)[0]
    assert review.task_spec.name == "review" and review.data["counted"] == 2
    review.run()
    copy.do_engine_steps()
    assert copy.is_completed()


def test_states_saved_with_every_task_named_by_its_id_are_still_read():
    # Written once, by the writer that stored "specless-2" (engine/serializer.py at commit
    # 9e9c44b), for the diagram beside the 1.5 state, waiting at its user task; the expected file
    # is what SpiffWorkflow's own serializer recorded of that workflow, spec aside.
    parser = SpiffBpmnParser()
    parser.add_bpmn_files([str(FIXTURES / "specless-1.5.bpmn")])
    specs = parser.get_spec("nested"), parser.get_subprocess_specs("nested")
    blob = (FIXTURES / "state-specless-2.json.gz").read_bytes()
    assert json.loads(gzip.decompress(blob))["serializer_version"] == "specless-2"
    copy = serializer.load_state(blob, *specs, PythonScriptEngine())
    assert full_state(copy) == json.loads((FIXTURES / "state-specless-2.expected.json").read_text())
    old_ids = set(copy.tasks)
    review = copy.get_tasks(state=TaskState.READY, manual=True)[0]
    review.reset_branch(None)  # its branch made again: new tasks, under a key of this reading's
    copy.do_engine_steps()
    review = copy.get_tasks(state=TaskState.READY, manual=True)[0]
    review.run()
    copy.do_engine_steps()
    assert copy.is_completed()
    # Saved again, the old tasks keep their ids and the new ones are numbered; both read back.
    again = restored(copy, specs)
    assert full_state(again) == full_state(copy) and set(again.tasks) == set(copy.tasks)
    kept = old_ids & set(copy.tasks)
    assert kept and set(copy.tasks) - kept, "old tasks kept and new tasks made"
    assert all(copy.tasks[task_id].task_number is None for task_id in kept)
    assert all(copy.tasks[task_id].task_number is not None for task_id in set(copy.tasks) - kept)


def test_the_state_names_the_engines_tasks_by_number_and_restores_the_same_ids(specs):
    workflow = new_workflow(specs)
    workflow.do_engine_steps()
    dct = json.loads(gzip.decompress(serializer.dump_state(workflow)))
    numbered = [row[0] for row in dct["tasks"]]
    assert numbered and all(isinstance(ref, int) for ref in numbered)
    assert dct["root"] == 0 and isinstance(dct["last_task"], int)
    # No id of the workflow's own tasks is written out as text (they are derived on reading) but
    # the one a subprocess hangs from, which names the subprocess.
    text = json.dumps(dct)
    assert {str(t) for t in workflow.tasks if str(t) in text} == {str(t) for t in workflow.subprocesses}
    copy = restored(workflow, specs)
    assert set(copy.tasks) == set(workflow.tasks) and full_state(copy) == full_state(workflow)


def test_task_ids_are_never_made_twice_in_a_workflow_nor_shared_between_workflows(specs):
    first, second = new_workflow(specs), new_workflow(specs)
    first.do_engine_steps()
    second.do_engine_steps()
    assert not set(first.tasks) & set(second.tasks)
    copy = restored(first, specs)
    seen = set(copy.tasks)
    # A reset branch is made again as new tasks: none takes an id a removed task had.
    review = copy.get_tasks(state=TaskState.READY, manual=True)[0]
    review.reset_branch(None)
    copy.do_engine_steps()
    again = restored(copy, specs)
    for workflow in (copy, again):
        review = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
        review.run()
        workflow.do_engine_steps()
        assert workflow.is_completed()
    made = set(copy.tasks) - seen
    assert made and set(again.tasks) - seen == made and len(set(copy.tasks)) == len(copy.tasks)
    assert all(str(task_id)[14] == "4" for task_id in copy.tasks)  # version-4 UUIDs, as before


def test_an_unknown_format_is_refused(specs):
    blob = gzip.compress(json.dumps({"serializer_version": "specless-0"}).encode())
    with pytest.raises(ValueError, match="unknown workflow state format"):
        serializer.load_state(blob, *specs, PythonScriptEngine())


@pytest.mark.parametrize("size", [0, 1, 511, 512, 4096, 70_000])
def test_states_of_every_size_compress_to_standard_gzip(size):
    raw = (b"workflow-state-" * (size // 15 + 1))[:size]
    assert gzip.decompress(serializer._gzip(raw)) == raw


def _every_search_matches_spiffworkflows(workflow):
    from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
    from SpiffWorkflow.util.task import TaskIterator
    masks = [TaskState.ANY_MASK, TaskState.READY, TaskState.WAITING, TaskState.COMPLETED,
             TaskState.NOT_FINISHED_MASK, TaskState.FINISHED_MASK, TaskState.PREDICTED_MASK,
             TaskState.DEFINITE_MASK, TaskState.READY | TaskState.WAITING]
    for mask in masks:
        assert list(search(workflow.task_tree, state=mask)) == list(BpmnTaskIterator(workflow.task_tree, state=mask))
        assert list(search(workflow.task_tree, state=mask, into_subprocesses=False)) == \
            list(TaskIterator(workflow.task_tree, state=mask))
        for manual in (True, False):
            assert workflow.get_tasks(state=mask, manual=manual) == \
                list(BpmnTaskIterator(workflow.task_tree, state=mask, manual=manual))
    for spec_name in ("review", "count", "too_late", "nothing"):
        assert workflow.get_tasks(spec_name=spec_name) == \
            list(BpmnTaskIterator(workflow.task_tree, spec_name=spec_name))


def test_the_engines_task_search_finds_what_spiffworkflows_iterator_finds_in_the_same_order(specs):
    workflow = new_workflow(specs)
    _every_search_matches_spiffworkflows(workflow)          # nothing run yet: all predicted
    workflow.do_engine_steps()
    _every_search_matches_spiffworkflows(workflow)          # inside: a finished subprocess, a timer
    task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    task.run()
    workflow.do_engine_steps()
    assert workflow.is_completed()
    _every_search_matches_spiffworkflows(workflow)          # done: branches cancelled and finished


def test_searches_the_fast_path_does_not_know_go_to_spiffworkflow(specs):
    workflow = new_workflow(specs)
    workflow.do_engine_steps()
    assert [t.task_spec.name for t in workflow.get_tasks(end_at_spec="review", state=TaskState.READY)] == \
        ["review"]
    assert workflow.get_tasks(lane="nowhere") == []


def test_the_engines_tasks_stay_engine_tasks_when_run_and_restored(specs):
    workflow = new_workflow(specs)
    workflow.do_engine_steps()
    assert workflow.tasks and all(type(t) is EngineTask for t in workflow.tasks.values())
    copy = restored(workflow, specs)
    assert all(type(t) is EngineTask for t in copy.tasks.values())
    review = copy.get_tasks(state=TaskState.READY, manual=True)[0]
    review.run()
    copy.do_engine_steps()
    assert all(type(t) is EngineTask for t in copy.tasks.values())
    # A subprocess is SpiffWorkflow's own class, restored with the plain Tasks it makes.
    for subprocess in copy.subprocesses.values():
        assert all(type(t) is Task for t in subprocess.tasks.values())


def test_state_changes_are_still_logged_when_spiffworkflows_logger_is_enabled(specs, caplog):
    """The engine's tasks skip building a log record only when nothing would write it."""
    import logging
    with caplog.at_level(logging.INFO, logger="spiff"):
        workflow = new_workflow(specs)
        workflow.do_engine_steps()
    changes = [r for r in caplog.records if r.name == "spiff.task" and r.getMessage().startswith("State changed to")]
    assert changes, "no state change was logged"
    record = changes[-1]
    assert record.workflow_spec == "nested" and record.task_id in workflow.get_task_from_id(record.task_id).workflow.tasks
    assert [r for r in caplog.records if r.name == "spiff.workflow" and r.getMessage() == "Initialized workflow"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="spiff"):
        new_workflow(specs).do_engine_steps()
    assert not [r for r in caplog.records if r.name.startswith("spiff")]
