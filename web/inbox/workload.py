"""A supervisor's start page: deadlines overdue, due today and at risk, each officer's workload,
and moving many tasks to another officer at once.

"At risk" is one working day left (engine/calendar), so a Friday task due on Monday is at risk on
Friday. A supervisor sees their region only; an administrator every region.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from engine import clock, tasks
from engine.calendar import current_calendar
from engine.db import db
from engine.exceptions import Conflict, NotFound

from . import access, users
from .blueprint import bp
from .queue import describe

OVERDUE, DUE_TODAY, AT_RISK = "overdue", "due_today", "at_risk"
BUCKETS = (OVERDUE, DUE_TODAY, AT_RISK)
UNASSIGNED = ""
PAGE_LIMIT = 1000  # the page lists what needs attention; a region's whole backlog is not that


def bucket_of(due_at, now, calendar) -> str | None:
    """Which deadline state a task is in, or None when it has more than one working day left."""
    if due_at is None:
        return None
    if due_at < now:
        return OVERDUE
    left = calendar.working_days_between(now, due_at)
    if left <= 0:
        return DUE_TODAY
    return AT_RISK if left == 1 else None


def attention_cutoff(now, calendar) -> datetime:
    """The end of the next working day, local time: later deadlines need no attention yet."""
    next_working = calendar.add_working_days(calendar.local_date(now), 1)
    local_end = datetime.combine(next_working + timedelta(days=1), time.min, tzinfo=calendar.tz)
    return clock.as_utc(local_end)


def _open_tasks(regions):
    query = sa.select(tasks.HumanTask).where(
        tasks.HumanTask.status == tasks.READY,
        tasks.HumanTask.role.in_(current_app.config["SUPERVISED_ROLES"]))
    if regions is not None:
        query = query.where(tasks.HumanTask.region.in_(regions))
    return query


@bp.get("/overview")
@access.role_required("supervisor", "admin")
def overview():
    regions = access.regions()
    now, calendar = clock.now(), current_calendar()
    rows = list(db.session.execute(
        _open_tasks(regions).where(tasks.HumanTask.due_at < attention_cutoff(now, calendar))
        .order_by(tasks.HumanTask.due_at, tasks.HumanTask.id).limit(PAGE_LIMIT)).scalars())
    items = describe(rows)
    for item in items:
        item["bucket"] = bucket_of(item["task"].due_at, now, calendar)
    items = [i for i in items if i["bucket"]]
    totals = Counter(i["bucket"] for i in items)
    by_officer, by_step = _table(items, lambda t: t.assignee or UNASSIGNED), _table(items, lambda t: t.name)
    workload = dict(db.session.execute(
        _open_tasks(regions).with_only_columns(tasks.HumanTask.assignee, sa.func.count())
        .group_by(tasks.HumanTask.assignee)).all())
    region_codes = sorted(regions) if regions is not None else sorted({t.region for t in rows if t.region})
    officers = {region: users.officers_of(region) for region in region_codes}
    for people in officers.values():
        for person in people:
            workload.setdefault(person.username, 0)
    names = {u.username: u.display_name for people in officers.values() for u in people}
    return render_template("inbox/overview.html", items=items, totals=totals, buckets=BUCKETS,
                           by_officer=by_officer, by_step=by_step, names=names,
                           workload=sorted(workload.items(), key=lambda kv: (kv[0] is None, -kv[1], kv[0] or "")),
                           officers=officers, errors={})


def _table(items, key):
    table: dict = {}
    for item in items:
        table.setdefault(key(item["task"]), Counter())[item["bucket"]] += 1
    return sorted(table.items(), key=lambda kv: (-kv[1][OVERDUE], -kv[1][DUE_TODAY], -kv[1][AT_RISK], kv[0]))


@bp.post("/overview/reassign")
@access.role_required("supervisor", "admin")
def reassign_many():
    actor = access.supervising_actor()
    task_ids = list(dict.fromkeys(t for t in request.form.getlist("task") if t))
    target = (request.form.get("to") or "").strip() or None
    if not task_ids:
        flash(gettext("Nothing reassigned: tick the tasks to move first."), "error")
        return redirect(url_for("inbox.overview"))
    rows = []
    for task_id in task_ids:
        try:
            rows.append(tasks.visible_to(actor, task_id))
        except NotFound:
            db.session.rollback()
            access.refused("task", task_id=task_id)
            return render_template("inbox/error.html", status=404, title=gettext("Not found"),
                                   message=gettext("One of the tasks does not exist or is not in your region; "
                                                   "nothing was reassigned.")), 404
    if target is not None:
        wrong = sorted({r.region for r in rows if target not in {u.username for u in users.officers_of(r.region)}})
        if wrong:
            flash(gettext("Nothing reassigned: %(who)s is not an officer of %(region)s.", who=target,
                          region=", ".join(gettext(current_app.config["REGIONS"].get(r, r)) for r in wrong)), "error")
            return redirect(url_for("inbox.overview"))
    moved, missed = 0, 0
    for row in rows:
        try:
            tasks.unclaim(row.id, actor, reassign_to=target, as_supervisor=True)
            moved += 1
        except Conflict:
            db.session.rollback()
            missed += 1
    who = names_of(target)
    message = (gettext("%(n)s task(s) now with %(who)s.", n=moved, who=who) if target
               else gettext("%(n)s task(s) now unassigned.", n=moved))
    if missed:
        message += " " + gettext("%(n)s were completed meanwhile and stay as they were.", n=missed)
    flash(message, "success" if not missed else "error")
    return redirect(url_for("inbox.overview"))


def names_of(username):
    user = users.by_username(username) if username else None
    return user.display_name if user else username
