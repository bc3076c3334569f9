"""The permit domain: the rules of the law and the service-task operators that apply them.

Importing the package registers every operator (`import handlers` in app.py) and every
domain table (so the migrations and queries see them). `init_app(app)` adds the domain's
commands and its share of the scheduler's sweep.
"""
from . import (  # noqa: F401  each module registers its operators and tables
    cases, compliance, decision_documents, decisions, documents, documents_pdf, eligibility, esutd, extensions, identity,
    notifications, permits, police, quota, reference, revocations, scenarios, tax, terms, validity,
)

from engine import hooks


def init_app(app) -> None:
    """`flask reference|notifications|police ...`, `sweep` among the sweep's hooks, and the
    four-eyes rule of revocations among the checks run before a human task completes."""
    from . import cli
    cli.register(app)
    hooks.add_sweep_hook(app, sweep)
    hooks.add_task_completion_check(app, revocations.initiator_may_not_confirm)
    from engine import definitions
    if scenarios.gate not in definitions.GATES:
        definitions.GATES.append(scenarios.gate)  # a new version must still pass every scenario


def sweep(now) -> dict:
    """The domain's share of a sweep: due police answers first (their steps may queue
    notifications), then due notifications. Needs an application context."""
    return {"police_replies": police.deliver_due_replies(now),
            "notifications": notifications.send_pending(now)}
