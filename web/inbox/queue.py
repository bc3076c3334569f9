"""The inbox: my roles' open tasks in my region, in the order I choose; claim and give back.

A page is a keyset walk of the task index in the chosen order: "next" walks on from the page's
last task, "previous" walks back from its first; totals and the page number are counts over the
same index ranges. The list refreshes itself from /inbox/rows (the same list, as a fragment).
"""
from __future__ import annotations

import math
from urllib.parse import parse_qsl

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from engine import clock, tasks
from engine.db import db
from engine.instances import ProcessInstance
from engine.exceptions import Conflict, Forbidden, NotFound

from web.api import cursors
from web.api.problems import Problem

from . import access, saved_filters
from .blueprint import bp
from .auth import safe_path
from .display import is_overdue, working_days_left

from .saved_filters import BadFilter, filter_query, parse_filter

FILTER_KEY = "inbox_filter"  # the officer's last queue filter: "next task" after a completion follows it


def filtered(view: dict, actor, **extra):
    """tasks.queue / tasks.count arguments of this filter."""
    return dict(assignee=actor.name if view["scope"] == "mine" else None,
                unassigned=view["scope"] == "unassigned", bpmn_id=view["step"], process_id=view["process"],
                sort=view["sort"].lstrip("-"), descending=view["sort"].startswith("-"), **extra)


@bp.get("/inbox")
@access.role_required("officer", "supervisor")
def queue():
    view = _page_or_400(request.args)
    session[FILTER_KEY] = filter_query(view)
    return _render_queue(view)


def _page_or_400(args) -> dict:
    try:
        return _page(args)
    except BadFilter as err:
        abort(400, description=f"{err.field}: {err}")


def _render_queue(view, **extra):
    steps = tasks.steps_for(access.actor().roles)
    return render_template("inbox/queue.html", **view, saved=saved_filters.of(current_user.username),
                           steps=sorted({(s[1], s[2]) for s in steps}, key=lambda s: s[1]),
                           processes=sorted({s[0] for s in steps}), query=filter_query(view),
                           refresh_seconds=current_app.config["INBOX_REFRESH_SECONDS"], **extra)


@bp.get("/inbox/rows")
@access.role_required("officer", "supervisor")
def queue_rows():
    """The list of /inbox with the same parameters, as the fragment the page swaps in."""
    view = _page_or_400(request.args)
    response = current_app.make_response(render_template("inbox/_queue_rows.html", **view))
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(args) -> dict:
    """One page of the queue with its totals and the links around it."""
    view = parse_filter(args)
    actor = access.actor()
    sort = view["sort"].lstrip("-")
    size = current_app.config["INBOX_PAGE_SIZE"]
    after, before = _position(args, "after", view["sort"]), _position(args, "before", view["sort"])
    if after is not None and before is not None:
        raise BadFilter("before", gettext("give either “after” or “before”, not both"))
    last = args.get("last") == "1"
    arguments = filtered(view, actor)
    if before is not None or last:  # walk back from this page's first task (or from the end)
        back = dict(arguments, descending=not arguments["descending"])
        rows = tasks.queue(actor, after=before, limit=size, **back)[::-1]
    else:
        rows = tasks.queue(actor, after=after, limit=size, **arguments)
    total = tasks.count(actor, **arguments)
    if rows:
        first = tasks.queue_position(rows[0], sort)
        preceding = tasks.count(actor, **dict(arguments, descending=not arguments["descending"], after=first))
    else:
        preceding = total if (after is not None or last) else 0
    following = max(total - preceding - len(rows), 0)
    number = math.ceil(preceding / size) + 1
    pages = max(number + math.ceil(following / size), 1) if rows else max(math.ceil(total / size), 1, number)
    links = {k: view[k] for k in ("scope", "step", "process", "sort") if view[k]}
    return dict(view, items=describe(rows), total=total, page=number,
                pages=pages, links=links, size=size,
                previous_cursor=_cursor(view["sort"], rows[0], sort) if rows and preceding else None,
                next_cursor=_cursor(view["sort"], rows[-1], sort) if rows and following else None,
                first_page=bool(preceding) or (not rows and bool(after or before or last)),
                last_page=bool(following),
                updated_at=clock.to_local(clock.now()))


def _cursor(order: str, row, sort: str) -> str:
    return cursors.encode(order, *tasks.queue_position(row, sort))


_KINDS = {"due": ("time?", "time", "uuid"), "created": ("time", "uuid"), "step": ("text", "time", "uuid"),
          "case": ("text", "uuid")}


def _position(args, name: str, order: str):
    """The keyset a page link carries (the sort order it was given for, then the task's place);
    one this page did not give, or given for another order, is a 400."""
    raw = args.get(name)
    if not raw:
        return None
    try:
        found = cursors.decode(raw, "text", *_KINDS[order.lstrip("-")])
    except Problem:
        found = None
    if found is None or found[0] != order:
        abort(400, description=f"{name}: " + gettext("not a page position this inbox gave for this order"))
    return found[1:]


@bp.post("/inbox/filters")
@access.role_required("officer", "supervisor")
def save_filter():
    try:
        view = parse_filter(request.form)
    except BadFilter as err:
        abort(400, description=f"{err.field}: {err}")
    name = " ".join((request.form.get("name") or "").split())
    error = None
    if not name:
        error = gettext("Name: enter a name for the filter.")
    elif len(name) > saved_filters.NAME_MAX:
        error = gettext("Name: at most %(max)s characters.", max=saved_filters.NAME_MAX)
    elif len(saved_filters.of(current_user.username)) >= saved_filters.PER_USER_MAX:
        error = gettext("Name: you have %(max)s saved filters already; delete one first.",
                        max=saved_filters.PER_USER_MAX)
    if error is None:
        db.session.add(saved_filters.SavedFilter(username=current_user.username, name=name,
                                                 query=filter_query(view), created_at=clock.now()))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            error = gettext("Name: you already have a filter named “%(name)s”.", name=name)
    if error is not None:  # the queue as the officer saw it, the error beside the name field
        return _render_queue(_page(dict(parse_qsl(filter_query(view)))), filter_error=error,
                             filter_name=name), 400
    flash(gettext("Filter “%(name)s” saved.", name=name), "success")
    return redirect(url_for("inbox.queue", **dict(parse_qsl(filter_query(view)))))


@bp.post("/inbox/filters/<int(max=2147483647):filter_id>/delete")
@access.role_required("officer", "supervisor")
def delete_filter(filter_id):
    row = db.session.get(saved_filters.SavedFilter, filter_id)  # another officer's: "not found"
    if row is None or row.username != current_user.username:
        access.refused("saved_filter")
        abort(404)
    name = row.name
    db.session.delete(row)
    db.session.commit()
    flash(gettext("Filter “%(name)s” deleted.", name=name), "success")
    return redirect(url_for("inbox.queue"))


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
