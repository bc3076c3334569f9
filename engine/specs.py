"""The task specs the engine parses diagrams into, and the parser that uses them.

A service task whose operator is `external` does not call it in the step: it writes a job
(`engine.jobs.defer`) and stays STARTED; a worker calls the operator afterwards and completes
the task in a new step. Every other operator runs in the step, as SpiffWorkflow runs it.
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask

from . import operators


class EngineServiceTask(ServiceTask):
    def _execute(self, task):
        op = operators.get(self.operation_name)
        if op is None or not op.external:
            return super()._execute(task)
        from . import jobs
        params = {name: value["value"] for name, value in self.evaluate_params(task).items()}
        jobs.defer(task, self.operation_name, params, self.result_variable)
        return None  # STARTED: the job completes it


class EngineParser(SpiffBpmnParser):
    OVERRIDE_PARSER_CLASSES = dict(SpiffBpmnParser.OVERRIDE_PARSER_CLASSES)
    OVERRIDE_PARSER_CLASSES[full_tag("serviceTask")] = (ServiceTaskParser, EngineServiceTask)
