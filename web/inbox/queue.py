"""The inbox: my roles' open tasks in my region, soonest deadline first; claim and give back."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from engine import tasks
from engine.db import db
from engine.instances import ProcessInstance
from engine.exceptions import Conflict, Forbidden, NotFound

from web.api import cursors
from web.api.problems import Problem

from . import access, bp
from .auth import safe_path
from .display import is_overdue, working_days_left

SCOPES = ("all", "mine", "unassigned")


@bp.get("/inbox")
@access.role_required("officer", "supervisor")
def queue():
    actor = access.actor()
    scope = request.args.get("scope", "all")
    scope = scope if scope in SCOPES else "all"
    step = request.args.get("step") or None
    process = request.args.get("process") or None
    after = _after(request.args.get("after"))
    page = request.args.get("page", 1, type=int) or 1 if after else 1  # shown only
    size = current_app.config["INBOX_PAGE_SIZE"]
    rows = tasks.queue(actor, assignee=actor.name if scope == "mine" else None,
                       unassigned=scope == "unassigned", bpmn_id=step, process_id=process,
                       after=after, limit=size + 1)
    next_after = cursors.encode(*tasks.queue_position(rows[size - 1])) if len(rows) > size else None
    rows = rows[:size]
    steps = tasks.steps_for(actor.roles)
    return render_template("inbox/queue.html", items=describe(rows), scope=scope, step=step,
                           process=process, page=max(page, 1), next_after=next_after,
                           steps=sorted({(s[1], s[2]) for s in steps}, key=lambda s: s[1]),
                           processes=sorted({s[0] for s in steps}))


def _after(raw):
    """The keyset of the previous page's last task; a cursor this page did not give is a 400."""
    if not raw:
        return None
    try:
        return cursors.decode(raw, "time?", "time", "uuid")
    except Problem:
        abort(400, description="after: not a page position this inbox gave")


@bp.post("/tasks/<task_id>/claim")
def claim(task_id):
    try:
        row = act(lambda: tasks.claim(task_id, access.actor()), task_id)
    except (Conflict, Forbidden) as err:
        flash(gettext("Not taken: %(reason)s.", reason=err), "error")
        return redirect(_back(url_for("inbox.queue")))
    flash(gettext("You took the task “%(task)s”.", task=gettext(row.name)), "success")
    return redirect(_back(url_for("inbox.task", task_id=task_id)))


@bp.post("/tasks/<task_id>/unclaim")
def unclaim(task_id):
    try:
        row = act(lambda: tasks.unclaim(task_id, access.actor()), task_id)
    except (Conflict, Forbidden) as err:
        flash(gettext("Not given back: %(reason)s.", reason=err), "error")
        return redirect(_back(url_for("inbox.queue")))
    flash(gettext("You gave back the task “%(task)s”.", task=gettext(row.name)), "success")
    return redirect(_back(url_for("inbox.queue")))


def describe(rows):
    """Each task with its case and applicant (two look-ups for the whole page) and deadline."""
    from handlers.cases import Case
    ids = {r.instance_id for r in rows}
    cases = {c.id: c for c in db.session.execute(sa.select(Case).where(Case.id.in_(ids))).scalars()} \
        if ids else {}
    keys = dict(db.session.execute(sa.select(ProcessInstance.id, ProcessInstance.business_key)
                                   .where(ProcessInstance.id.in_(ids))).all()) if ids else {}
    items = []
    for row in rows:
        case = cases.get(row.instance_id)
        items.append({
            "task": row,
            "case_number": (case.application_no if case and case.application_no else None)
            or keys.get(row.instance_id) or row.instance_id[:8],
            "applicant": case.applicant_name if case else None,
            "days_left": working_days_left(row.due_at),
            "overdue": is_overdue(row.due_at),
            "mine": row.assignee == current_user.username,
        })
    return items


def act(action, task_id):
    """Run an engine action on a task; a task the user may not see is audited, then 404."""
    try:
        return action()
    except NotFound:
        db.session.rollback()
        access.refused("task", task_id=task_id)
        abort(404)


def _back(default):
    return safe_path(request.form.get("back")) or default
