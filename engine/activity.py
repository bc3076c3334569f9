"""Where the running instances of one definition stand, per element, from the index tables
(open human tasks, waiting timers, pending jobs, message subscriptions, incidents); no
workflow is loaded, so the cost follows the number of open rows, not of cases."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from . import definitions, instances, jobs, messages, tasks, timers
from .db import db


def element_counts(definition) -> dict[str, dict[str, int]]:
    """{BPMN id: {"running": cases waiting there, "incidents": cases failed there}}."""
    Instance = instances.ProcessInstance
    running = (Instance.definition_id == definition.id, Instance.status == instances.IN_PROGRESS)
    counts: dict = defaultdict(lambda: {"running": 0, "incidents": 0})
    sources = [
        sa.select(tasks.HumanTask.bpmn_id, tasks.HumanTask.instance_id).where(tasks.HumanTask.status == tasks.READY),
        sa.select(timers.Timer.bpmn_id, timers.Timer.instance_id),
        sa.select(jobs.Job.bpmn_id, jobs.Job.instance_id).where(jobs.Job.status == jobs.PENDING),
        sa.select(messages.MessageSubscription.bpmn_id, messages.MessageSubscription.instance_id),
    ]
    waiting = sa.union(*sources).subquery()
    for bpmn_id, number in db.session.execute(
            sa.select(waiting.c.bpmn_id, sa.func.count(sa.distinct(waiting.c.instance_id)))
            .join(Instance, Instance.id == waiting.c.instance_id).where(*running).group_by(waiting.c.bpmn_id)):
        counts[bpmn_id]["running"] = number
    spec, _ = definitions.spec_for(definition)
    by_name = {s.bpmn_name: s.bpmn_id for s in spec.task_specs.values() if s.bpmn_id and s.bpmn_name}
    for name, number in db.session.execute(
            sa.select(Instance.incident_task_name, sa.func.count())
            .where(Instance.definition_id == definition.id, Instance.status == instances.INCIDENT)
            .group_by(Instance.incident_task_name)):
        bpmn_id = by_name.get(name, name) if name else None
        if bpmn_id:
            counts[bpmn_id]["incidents"] += number
    return dict(counts)
