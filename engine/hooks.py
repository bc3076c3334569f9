"""Where an application plugs its own rules into the engine, without the engine importing them.

Two kinds, kept per application (tests create many apps; each gets its own):

- task-completion checks: `check(actor, task_row, spiff_task, submitted)` runs inside the step
  that completes a human task, before the task runs; raising an `EngineError` (Forbidden,
  InvalidData, ...) refuses the completion and changes nothing. The permit domain's four-eyes
  rule of revocations is one.
- sweep hooks: `hook(now)` runs after the timers of every sweep (engine/scheduler.py), each
  isolated from the others; its return value is reported. The domain's police answers and
  notification outbox are one.
- worker-start hooks: `hook(app)` runs once when a process becomes the worker (`flask worker
  run`), before it takes jobs. The web layer's metrics endpoint of a worker is one.

Like operators (engine/operators.py), the domain registers these; the engine only calls them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

TaskCompletionCheck = Callable[[Any, Any, Any, Any], None]
SweepHook = Callable[[datetime], Any]
WorkerStartHook = Callable[[Any], None]

_EXTENSION = "engine.hooks"


@dataclass
class Hooks:
    task_completion_checks: list[TaskCompletionCheck] = field(default_factory=list)
    sweep_hooks: list[SweepHook] = field(default_factory=list)
    worker_start_hooks: list[WorkerStartHook] = field(default_factory=list)


def of(app) -> Hooks:
    """The application's hooks (empty until something registers one)."""
    hooks = app.extensions.get(_EXTENSION)
    if hooks is None:
        hooks = app.extensions[_EXTENSION] = Hooks()
    return hooks


def add_task_completion_check(app, check: TaskCompletionCheck) -> None:
    checks = of(app).task_completion_checks
    if check not in checks:  # init_app may run twice on one app
        checks.append(check)


def add_sweep_hook(app, hook: SweepHook) -> None:
    hooks = of(app).sweep_hooks
    if hook not in hooks:
        hooks.append(hook)


def add_worker_start_hook(app, hook: WorkerStartHook) -> None:
    hooks = of(app).worker_start_hooks
    if hook not in hooks:
        hooks.append(hook)
