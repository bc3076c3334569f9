"""Supervisors: the region's escalated and overdue tasks, reassignment; incidents and retry."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from engine import clock, instances, tasks
from engine import incidents as engine_incidents
from engine.db import db
from engine.exceptions import Conflict, EngineError, Forbidden
from engine.instances import ProcessInstance

from web.api import cursors
from web.api.problems import Problem

from . import access, users
from .blueprint import bp
from .queue import act, describe


@bp.get("/supervision")
@access.role_required("supervisor", "admin")
def supervision():
    regions = access.regions()
    size = current_app.config["SUPERVISION_PAGE_SIZE"]
    after = _after(request.args.get("after"))
    page = (request.args.get("page", 1, type=int) or 1) if after else 1  # shown only
    rows = tasks.supervised(current_app.config["SUPERVISED_ROLES"], regions, clock.now(), limit=size + 1,
                            after=after)
    next_after = cursors.encode(*tasks.queue_position(rows[size - 1])) if len(rows) > size else None
    rows = rows[:size]
    officers = {region: users.officers_of(region) for region in {r.region for r in rows if r.region}}
    return render_template("inbox/supervision.html", items=describe(rows), officers=officers,
                           page=max(page, 1), next_after=next_after)


def _after(raw):
    """The keyset of the previous page's last task; a position this page did not give is a 400."""
    if not raw:
        return None
    try:
        return cursors.decode(raw, "time?", "time", "uuid")
    except Problem:
        abort(400, description="after: not a page position this list gave")


@bp.post("/supervision/tasks/<task_id>/reassign")
@access.role_required("supervisor", "admin")
def reassign(task_id):
    actor = access.supervising_actor()
    row = act(lambda: tasks.visible_to(actor, task_id), task_id)
    target = request.form.get("to") or None
    if target is not None and target not in {u.username for u in users.officers_of(row.region)}:
        flash(gettext("Not reassigned: %(who)s is not an officer of %(region)s.", who=target,
                      region=row.region), "error")
        return redirect(url_for("inbox.supervision"))
    try:
        tasks.unclaim(task_id, actor, reassign_to=target, as_supervisor=True)
    except (Conflict, Forbidden) as err:
        db.session.rollback()
        flash(gettext("Not reassigned: %(reason)s.", reason=err), "error")
        return redirect(url_for("inbox.supervision"))
    flash(gettext("“%(task)s” is now with %(who)s.", task=gettext(row.name), who=target) if target
          else gettext("“%(task)s” is now unassigned.", task=gettext(row.name)), "success")
    return redirect(url_for("inbox.supervision"))


@bp.get("/incidents")
@access.role_required("supervisor", "admin")
def incidents():
    rows = engine_incidents.open_incidents(access.regions())
    return render_template("inbox/incidents.html", rows=rows, views={r.id: engine_incidents.describe(r) for r in rows},
                           results=None)


@bp.post("/incidents/<instance_id>/retry")
@access.role_required("supervisor", "admin")
def retry(instance_id):
    access.visible_instance(instance_id)
    try:
        row = instances.retry(instance_id, current_user.username)
    except EngineError as err:
        db.session.rollback()
        flash(gettext("Not retried: %(reason)s.", reason=err), "error")
        return redirect(url_for("inbox.incidents"))
    if row.status == instances.INCIDENT:
        flash(gettext("Retried, and it failed again: %(message)s", message=row.incident_message), "error")
    else:
        flash(gettext("Retried: the case runs on."), "success")
    return redirect(request.form.get("back") == "case" and url_for("inbox.case", instance_id=instance_id)
                    or url_for("inbox.incidents"))
