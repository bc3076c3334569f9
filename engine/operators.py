"""Service-task operators: functions registered by name that diagrams call.

A diagram names an operator with `<spiffworkflow:serviceTaskOperator id="police.request_check">`;
the engine looks it up here and calls it with a `StepContext` and the evaluated parameters.
The domain registers its operators by importing its handler modules; the engine imports none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from . import clock


@dataclass(frozen=True)
class Operator:
    name: str
    func: Callable[..., Any]
    retryable: tuple[type[BaseException], ...] = ()
    max_attempts: int = 1
    backoff_seconds: float = 0.0
    pure: bool = False
    # Talks to another system: runs as a job after the step commits, never inside a request.
    external: bool = False
    description: str = ""


@dataclass
class StepContext:
    """What a handler receives: the running step's session, the clock, the configuration."""

    session: Any
    config: Mapping[str, Any]
    instance_id: str | None = None
    process_id: str | None = None
    task_id: str | None = None
    actor: str = "system"
    data: Mapping[str, Any] = field(default_factory=dict)
    # For an external operator's call: the job's id (an idempotency key for the other system)
    # and which attempt this is.
    job_id: str | None = None
    attempt: int = 1

    def now(self):
        return clock.now()


_REGISTRY: dict[str, Operator] = {}
_APPLIERS: dict[str, Callable[..., Any]] = {}


def operator(name: str, *, retry_on: tuple[type[BaseException], ...] = (), max_attempts: int = 3,
             backoff_seconds: float = 0.5, pure: bool = False, external: bool = False):
    """Register `func(ctx, **params)` as the operator `name`.

    `retry_on` declares the operator retryable: those exceptions are retried with
    exponential back-off up to `max_attempts` before the instance goes into an incident.
    `pure` declares that it writes nothing to the database, so it needs no savepoint.
    `external` declares that it calls another system: the engine stops the step at the
    service task, commits, and a worker calls `func` with no transaction open (`ctx.session`
    is None); its result is applied in a new step (see `engine.jobs`), first through the
    function registered with `@applies(name)` if there is one. Its retries and back-off are
    the job's (JOB_MAX_ATTEMPTS, JOB_BACKOFF_SECONDS), never a sleep.
    """

    def register(func):
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ValueError(f"operator {name!r} is registered twice")
        _REGISTRY[name] = Operator(name, func, tuple(retry_on), max_attempts if retry_on else 1,
                                   backoff_seconds, pure, external,
                                   (func.__doc__ or "").strip().split("\n\n")[0])
        return func

    return register


def applies(name: str):
    """Register `func(ctx, result, **params)` to apply an external operator's result inside the
    step that resumes the case (it may write rows; it returns what the diagram receives)."""

    def register(func):
        if name in _APPLIERS and _APPLIERS[name] is not func:
            raise ValueError(f"operator {name!r} has two appliers")
        _APPLIERS[name] = func
        return func

    return register


def applier(name: str) -> Callable[..., Any] | None:
    return _APPLIERS.get(name)


def get(name: str) -> Operator | None:
    return _REGISTRY.get(name)


def names() -> set[str]:
    return set(_REGISTRY)


class HandlerError(Exception):
    """A handler's refusal to go on, with a message fit for an operator's incident list."""
