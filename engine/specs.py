"""The task specs the engine parses diagrams into, and the parser that uses them.

A service task whose operator is `external` does not call it in the step: it writes a job
(`engine.jobs.defer`) and stays STARTED; a worker calls the operator afterwards and completes
the task in a new step. Every other operator runs in the step, as SpiffWorkflow runs it.

A service task with the property `asyncBefore` = `true` (Camunda's name for it) is where a
client's request ends: the step that reaches it commits there, and a worker runs the task and
everything after it to the next wait, in a step of its own. The permit procedures mark their
first task so: an application is accepted durably in a few milliseconds, and its checks run
in a worker, never holding a client or (on SQLite) the write lock for long.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.parser.task_parsers import GatewayParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask
from SpiffWorkflow.util.task import TaskState

from . import operators
from .workflow import EngineWorkflow, descends


ASYNC_BEFORE = "asyncBefore"


class EngineServiceTask(ServiceTask):
    def _execute(self, task):
        from . import jobs
        if self.async_before and not task.internal_data.pop(jobs.RELEASED, False):
            jobs.defer(task, self.operation_name, {}, self.result_variable, kind=jobs.CONTINUATION)
            return None  # STARTED: a worker releases it and runs on
        op = operators.get(self.operation_name)
        if op is None or not op.external:
            return super()._execute(task)
        params = {name: value["value"] for name, value in self.evaluate_params(task).items()}
        jobs.defer(task, self.operation_name, params, self.result_variable)
        return None  # STARTED: the job completes it

    @property
    def async_before(self) -> bool:
        properties = (self.extensions or {}).get("properties") or {}
        return str(properties.get(ASYNC_BEFORE, "")).strip().lower() == "true"


class EngineParallelGateway(ParallelGateway):
    """SpiffWorkflow's parallel gateway, with its join's check (on every update of the join: each
    branch that arrives, every completed task while it waits) walking each task's ancestors once
    instead of recursing through the `parent` property; the answer is SpiffWorkflow's."""

    def _check_threshold_unstructured(self, my_task):
        workflow = my_task.workflow
        # Unless the join is in a loop (a task of it below this one), the answer does not depend
        # on the order of its tasks: a scan of the flat task dictionary finds them.
        tasks = workflow.tasks_of_spec(self.name) if isinstance(workflow, EngineWorkflow) else None
        below = [descends(task, my_task) for task in tasks] if tasks is not None else None
        if tasks is None or any(below):
            tasks = workflow.get_tasks(spec_name=self.name)
            below = [descends(task, my_task) for task in tasks]
        waiting_inputs = set(self.inputs)
        by_id = my_task.workflow.tasks
        above_me = set()  # my_task's ancestors, by identity
        ancestor = by_id.get(my_task._parent)
        while ancestor is not None:
            above_me.add(id(ancestor))
            ancestor = by_id.get(ancestor._parent)
        for task, is_below in zip(tasks, below):
            if is_below:
                # The first iteration of a loop: the nearest ancestor that is an input arrived.
                ancestor = task
                while ancestor is not None:
                    if ancestor.task_spec in waiting_inputs:
                        waiting_inputs.remove(ancestor.task_spec)
                        break
                    ancestor = ancestor.workflow.tasks.get(ancestor._parent)
            elif id(task) in above_me:
                continue  # a previous iteration's join: its inputs do not count again
            else:
                parent = task.parent
                if parent.state == TaskState.COMPLETED and parent.task_spec in waiting_inputs:
                    waiting_inputs.remove(parent.task_spec)
        return len(waiting_inputs) == 0


class EngineParser(SpiffBpmnParser):
    OVERRIDE_PARSER_CLASSES = dict(SpiffBpmnParser.OVERRIDE_PARSER_CLASSES)
    OVERRIDE_PARSER_CLASSES[full_tag("serviceTask")] = (ServiceTaskParser, EngineServiceTask)
    OVERRIDE_PARSER_CLASSES[full_tag("parallelGateway")] = (GatewayParser, EngineParallelGateway)
