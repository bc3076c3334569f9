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

from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask

from . import operators


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


class EngineParser(SpiffBpmnParser):
    OVERRIDE_PARSER_CLASSES = dict(SpiffBpmnParser.OVERRIDE_PARSER_CLASSES)
    OVERRIDE_PARSER_CLASSES[full_tag("serviceTask")] = (ServiceTaskParser, EngineServiceTask)
