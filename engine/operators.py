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

    def now(self):
        return clock.now()


_REGISTRY: dict[str, Operator] = {}


def operator(name: str, *, retry_on: tuple[type[BaseException], ...] = (), max_attempts: int = 3,
             backoff_seconds: float = 0.5, pure: bool = False):
    """Register `func(ctx, **params)` as the operator `name`.

    `retry_on` declares the operator retryable: those exceptions are retried with
    exponential back-off up to `max_attempts` before the instance goes into an incident.
    `pure` declares that it writes nothing to the database, so it needs no savepoint.
    """

    def register(func):
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ValueError(f"operator {name!r} is registered twice")
        _REGISTRY[name] = Operator(name, func, tuple(retry_on), max_attempts if retry_on else 1,
                                   backoff_seconds, pure)
        return func

    return register


def get(name: str) -> Operator | None:
    return _REGISTRY.get(name)


def names() -> set[str]:
    return set(_REGISTRY)


class HandlerError(Exception):
    """A handler's refusal to go on, with a message fit for an operator's incident list."""
