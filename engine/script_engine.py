"""The script engine every workflow runs with: restricted expressions and our operators.

SpiffWorkflow 3.2.0's `PythonScriptEngine.call_service` hides every handler exception
behind `NameError: name 'script' is not defined`; `call_service` here replaces it.
"""
from __future__ import annotations

import json
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask

from . import operators
from .expressions import SafeEnvironment, check_evaluated


@dataclass
class StepInfo:
    """The step being run: which instance, for whom, with what session and configuration."""

    session: object
    config: object
    instance_id: str | None
    process_id: str | None
    actor: str
    # User tasks (BPMN ids) escalated in this step before their index row was written.
    escalations: set = field(default_factory=set)
    # Jobs this step wrote (external operators deferred): a worker is woken after the commit.
    new_jobs: int = 0


current_step: ContextVar[StepInfo | None] = ContextVar("current_step", default=None)


class OperatorFailed(Exception):
    """A handler raised; carries the operator name and the original error."""

    def __init__(self, operator_name: str, error: BaseException, attempts: int):
        self.operator_name = operator_name
        self.error = error
        self.attempts = attempts
        super().__init__(f"{operator_name}: {type(error).__name__}: {error}")


class EngineScriptEngine(PythonScriptEngine):
    def __init__(self, functions=None, max_power=10_000, max_size=100_000, max_cardinality=1000):
        super().__init__(environment=SafeEnvironment(functions or {}, max_power=max_power,
                                                     max_size=max_size))
        self.max_cardinality = max_cardinality

    def evaluate(self, task, expression, external_context=None):
        value = super().evaluate(task, expression, external_context)
        spec = task.task_spec
        # SpiffWorkflow uses a cardinality or a timer value outside its own error handling: a
        # value of the wrong type would escape as a plain error, not the task's incident.
        if isinstance(spec, MultiInstanceTask) and expression == spec.cardinality:
            self._check_cardinality(task, expression, value)  # bounded by ENGINE_MAX_CARDINALITY
            return value
        problem = check_evaluated(spec, expression, value)
        if problem is not None:
            raise WorkflowTaskException(problem, task=task)
        return value

    def _check_cardinality(self, task, expression, value):
        """A multi-instance creates its instances at once: bound their number before it does."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise WorkflowTaskException(
                f"loopCardinality {expression!r} evaluated to a {type(value).__name__}; expected a "
                f"whole number", task=task)
        if not 0 <= value <= self.max_cardinality:
            raise WorkflowTaskException(
                f"loopCardinality {expression!r} evaluated to {value}; at most "
                f"{self.max_cardinality} instances are allowed (ENGINE_MAX_CARDINALITY)", task=task)

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        params = {k: v["value"] for k, v in (operation_params or {}).items()}
        try:
            result = run_operator(operation_name, params, task)
            return _RESULT_ENCODER.encode(result)
        except Exception as err:
            # One readable message for the incident list, the original kept as the cause.
            raise WorkflowTaskException(f"{type(err).__name__}: {err}", task=task, exception=err) from err


def run_operator(name: str, params: dict, task=None):
    """Call a registered operator inside a savepoint, retrying errors it declares retryable."""
    op = operators.get(name)
    if op is None:
        raise LookupError(f"no handler is registered for operator {name!r}")
    step = current_step.get()
    if step is None:
        raise RuntimeError("operators run only inside an engine step")
    ctx = operators.StepContext(
        session=step.session, config=step.config, instance_id=step.instance_id,
        process_id=step.process_id, task_id=str(task.id) if task is not None else None,
        actor=step.actor, data=task.data if task is not None else {},
    )
    attempt = 0
    while True:
        attempt += 1
        # A failing handler's writes are undone; the step's earlier work is kept.
        savepoint = None if op.pure else step.session.begin_nested()
        try:
            result = op.func(ctx, **params)
            if savepoint is not None:
                savepoint.commit()
            return result
        except Exception as err:
            if savepoint is not None:
                savepoint.rollback()
            if isinstance(err, op.retryable) and attempt < op.max_attempts:
                time.sleep(op.backoff_seconds * (2 ** (attempt - 1)))
                continue
            raise OperatorFailed(name, err, attempt) from err


def json_default(value):
    """What operator results and job parameters hold, as JSON: dates ISO 8601, decimals as numbers."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"operator result of type {type(value).__name__} is not JSON")


# json.dumps(result, default=json_default) builds a new encoder on every call (a third of a
# service call's cost in the engine's profile); one encoder gives the same text.
_RESULT_ENCODER = json.JSONEncoder(default=json_default)
