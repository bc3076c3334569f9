"""The task page: the case as the officer needs it on one screen, and the task's form."""
from __future__ import annotations

from urllib.parse import parse_qsl

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user
from markupsafe import Markup, escape

from engine import definitions, tasks
from engine.db import db
from engine.exceptions import Conflict, Forbidden, InvalidData, NotFound

from . import access, casefile, schema_form
from .blueprint import bp
from .display import is_overdue, working_days_left
from .queue import FILTER_KEY, filtered
from .saved_filters import BadFilter, parse_filter


@bp.get("/tasks/<task_id>")
def task(task_id):
    row = _visible(task_id)
    return _page(row)


@bp.post("/tasks/<task_id>")
def complete(task_id):
    row = _visible(task_id)
    schema = _schema(row)
    submitted = schema_form.parse(schema, request.form) if schema is not None else {}
    if request.form.get("inbox_open_next_shown"):  # the officer's choice, kept for the session
        session[OPEN_NEXT_KEY] = bool(request.form.get("inbox_open_next"))
    permit_before = _permit_no(row)
    try:
        tasks.complete(task_id, access.actor(), submitted)
    except InvalidData as err:
        db.session.rollback()
        return _page(tasks.get(task_id), values=submitted, errors=err.errors,
                     message=gettext("The form has errors: see the marked fields.")), 422
    except Forbidden as err:
        db.session.rollback()
        return _page(tasks.get(task_id), values=submitted, message=gettext("Not saved: %(reason)s.", reason=err)), 403
    except Conflict as err:
        db.session.rollback()
        flash(gettext("Not saved: %(reason)s.", reason=err), "error")
        return redirect(url_for("inbox.task", task_id=task_id))
    flash(_completed_message(row, permit_before), "success")
    queue_args = dict(parse_qsl(session.get(FILTER_KEY) or ""))
    if not session.get(OPEN_NEXT_KEY, True):
        return redirect(url_for("inbox.queue", **queue_args))
    following = _next_task(queue_args)
    if following is None:
        flash(gettext("No more tasks in your queue with this filter."), "info")
        return redirect(url_for("inbox.queue", **queue_args))
    flash(gettext("Next: “%(task)s” of case %(case)s.", task=gettext(following.name), case=_number(following)),
          "info")
    return redirect(url_for("inbox.task", task_id=following.id))


OPEN_NEXT_KEY = "inbox_open_next"  # "open the next task after completing": on unless unticked


def _completed_message(row, permit_before):
    """“Done” with the case number; when this completion issued a permit, its number, linked to
    the permit's page."""
    text = gettext("Done: “%(task)s” of case %(case)s is completed.", task=gettext(row.name), case=_number(row))
    permit_no = _permit_no(row)
    if not permit_no or permit_no == permit_before:
        return text
    link = Markup('<a href="{}">{}</a>').format(url_for("inbox.permit", number=permit_no), permit_no)
    # The translated sentence is text; the link goes in where its placeholder was.
    issued = escape(gettext("Permit %(permit)s issued.", permit="\x00")).replace("\x00", link)
    return escape(text) + Markup(" ") + issued


def _next_task(queue_args):
    """The soonest-due task of the officer's last queue filter they may act on now (theirs or
    unclaimed), or None."""
    try:
        view = parse_filter(queue_args)
    except BadFilter:
        view = parse_filter({})
    actor = access.actor()
    found = tasks.queue(actor, **dict(filtered(view, actor), sort="due", descending=False), actionable=True,
                        limit=1)
    return found[0] if found else None


def _permit_no(row):
    from handlers.cases import Case
    db.session.expire_all()
    case = db.session.get(Case, row.instance_id)
    return case.permit_no if case is not None else None


def _page(row, values=None, errors=None, message=None):
    instance = access.visible_instance(row.instance_id)
    file = casefile.load(instance)
    data = casefile.task_data(file, row.id)
    schema = _schema(row)
    fields, form_errors = schema_form.fields(schema, values, errors) if schema else ([], [])
    mine = row.assignee == current_user.username
    return render_template(
        "inbox/task.html", task=row, file=file, data=data, schema=schema, fields=fields,
        form_errors=form_errors, message=message, mine=mine, open_next=session.get(OPEN_NEXT_KEY, True),
        editable=mine and row.status == tasks.READY,
        identity=casefile.identity_comparison(data), checks=casefile.checks(data),
        other=casefile.other_data(data, row.instance_id), days_left=working_days_left(row.due_at),
        overdue=row.status == tasks.READY and is_overdue(row.due_at))


def _visible(task_id):
    try:
        return tasks.visible_to(access.actor(), task_id)
    except NotFound:
        access.refused("task", task_id=task_id)
        abort(404)


def _schema(row):
    if not row.form:
        return None
    definition = definitions.get(row.definition_id)
    return definitions.form_schema(definition, row.form) if definition is not None else None


def _number(row):
    from handlers.cases import Case
    case = db.session.get(Case, row.instance_id)
    return (case.application_no if case is not None and case.application_no else row.instance_id[:8])
