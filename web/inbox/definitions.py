"""Analysts: the deployed process definitions, every version with its number of cases, the diagram."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from flask import Response, abort, render_template

from engine import activity
from engine import definitions as engine_definitions
from engine.db import db
from engine.definitions import ProcessDefinition
from engine.instances import ProcessInstance

from . import access
from .blueprint import bp
from .display import translated_diagram

ROLES = ("analyst", "supervisor", "admin")


@bp.get("/definitions")
@access.role_required(*ROLES)
def definitions():
    rows = list(db.session.execute(sa.select(ProcessDefinition).order_by(
        ProcessDefinition.process_id, ProcessDefinition.version.desc())).scalars())
    counts = _case_counts()
    processes = defaultdict(list)
    for row in rows:
        processes[row.process_id].append(row)
    return render_template("inbox/definitions.html", processes=processes, counts=counts)


@bp.get("/definitions/<int(max=2147483647):definition_id>")
@access.role_required(*ROLES)
def definition(definition_id):
    row = engine_definitions.get(definition_id) or abort(404)
    versions = list(db.session.execute(sa.select(ProcessDefinition).filter_by(
        process_id=row.process_id).order_by(ProcessDefinition.version.desc())).scalars())
    elements = activity.element_counts(row)
    states = {"current": sorted(k for k, v in elements.items() if v["running"]),
              "incident": sorted(k for k, v in elements.items() if v["incidents"]), "counts": elements}
    return render_template("inbox/definition.html", definition=row, versions=versions,
                           counts=_case_counts(), states=states)


@bp.get("/definitions/<int(max=2147483647):definition_id>/diagram.bpmn")
@access.role_required(*ROLES)
def definition_diagram(definition_id):
    row = engine_definitions.get(definition_id) or abort(404)
    return Response(translated_diagram(row.bpmn_xml), mimetype="application/xml")


def _case_counts() -> dict:
    """{definition id: {status: number of cases}} — one grouped count over the instance table."""
    counts = defaultdict(dict)
    for definition_id, status, number in db.session.execute(
            sa.select(ProcessInstance.definition_id, ProcessInstance.status, sa.func.count())
            .group_by(ProcessInstance.definition_id, ProcessInstance.status)):
        counts[definition_id][status] = number
    return counts
