"""Supervisors and administrators operate running cases: an incident's detail (the likely fix,
the failed task's input), retries of chosen cases or of every case with the same error, and
cancelling a case with a reason. Officers never reach these pages (404, and the attempt is audited)."""
from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine import edits, incidents, instances, migration, modification
from engine.db import db
from engine.exceptions import EngineError, NotFound
from handlers import cases

from . import access
from .blueprint import bp


@bp.get("/incidents/<instance_id>")
@access.role_required("supervisor", "admin")
def incident(instance_id):
    row = access.visible_instance(instance_id)
    if row.status != instances.INCIDENT:
        flash(_("This case has no open incident."), "info")
        return redirect(url_for("inbox.case", instance_id=instance_id))
    return render_template("inbox/incident.html", row=row, view=incidents.describe(row),
                           input=incidents.failed_task_input(row), case=cases.get(row.id))


@bp.post("/incidents/<instance_id>/data")
@access.role_required("supervisor", "admin")
def edit_data(instance_id):
    access.visible_instance(instance_id)
    key = (request.form.get("field") or "").strip()
    raw = request.form.get("value") or ""
    try:
        value = json.loads(raw)
    except ValueError:
        flash(_("Not changed: the value must be JSON (a text in double quotes)."), "error")
        return redirect(url_for("inbox.incident", instance_id=instance_id))
    try:
        diff = edits.edit_data(instance_id, current_user.username, {key: value} if key else {},
                               request.form.get("reason") or "")
    except EngineError as err:
        details = "; ".join(f"{k}: {', '.join(v)}" for k, v in getattr(err, "errors", {}).items())
        flash(_("Not changed: %(error)s", error=f"{err}" + (f" ({details})" if details else "")), "error")
        return redirect(url_for("inbox.incident", instance_id=instance_id))
    flash(_("Changed: %(fields)s. Retry the case to run the failed step with it.",
            fields=", ".join(diff) or "—"), "success")
    return redirect(url_for("inbox.incident", instance_id=instance_id))


@bp.post("/incidents/retries")
@access.role_required("supervisor", "admin")
def retry_batch():
    regions = access.regions()
    same_as = request.form.get("same_error_as")
    if same_as:
        access.visible_instance(same_as)
        try:
            ids = incidents.same_error_ids(same_as, regions)
        except EngineError as err:
            flash(_("Not retried: %(error)s", error=str(err)), "error")
            return redirect(url_for("inbox.incidents"))
    else:
        ids = request.form.getlist("instance_id")
    if not ids:
        flash(_("Not retried: choose at least one case."), "error")
        return redirect(url_for("inbox.incidents"))
    results, allowed = [], []
    for instance_id in ids:
        if _visible(instance_id, regions):
            allowed.append(instance_id)
        else:
            access.refused("incident", instance_id=instance_id)
            results.append(incidents.RetryResult(instance_id, "refused", None, _("no such case in your region")))
    try:
        results = incidents.retry_many(allowed, current_user.username) + results
    except EngineError as err:
        flash(_("Not retried: %(error)s", error=str(err)), "error")
        return redirect(url_for("inbox.incidents"))
    rows = incidents.open_incidents(regions)
    keys = {r.id: r.business_key for r in _rows(r.instance_id for r in results)}
    return render_template("inbox/incidents.html", rows=rows, views={r.id: incidents.describe(r) for r in rows},
                           results=results, keys=keys)


@bp.post("/cases/<instance_id>/cancel")
@access.role_required("supervisor", "admin")
def cancel_case(instance_id):
    access.visible_instance(instance_id)
    case = cases.get(instance_id)
    reason = (request.form.get("reason") or "").strip()
    back = url_for("inbox.incident", instance_id=instance_id) if request.form.get("back") == "incident" \
        else url_for("inbox.case", instance_id=instance_id)
    if case is None:
        flash(_("Not cancelled: only a permit case is cancelled here."), "error")
        return redirect(back)
    if not reason or len(reason) > 500:
        flash(_("Not cancelled: give the reason (at most 500 characters)."), "error")
        return redirect(back)
    try:
        cases.cancel(case, current_user.username, reason)
    except (ValueError, EngineError) as err:
        flash(_("Not cancelled: %(error)s", error=str(err)), "error")
        return redirect(back)
    flash(_("The case is cancelled; any quota unit it held is released."), "success")
    return redirect(url_for("inbox.case", instance_id=instance_id))


@bp.get("/cases/<instance_id>/operations")
@access.role_required("supervisor", "admin")
def operate_case(instance_id):
    row = access.visible_instance(instance_id)
    workflow = instances.peek(row)
    reached = {t.task_spec.bpmn_id for t in instances.all_tasks(workflow, modification.REACHED)}
    targets = {k: v for k, v in modification.activities(workflow).items() if k in reached}
    return render_template("inbox/operate_case.html", row=row, case=cases.get(row.id), targets=targets)


@bp.post("/cases/<instance_id>/move")
@access.role_required("supervisor", "admin")
def move_case(instance_id):
    access.visible_instance(instance_id)
    case = cases.get(instance_id)
    back = url_for("inbox.operate_case", instance_id=instance_id)
    if case is None:
        flash(_("Not moved: only a permit case is moved here."), "error")
        return redirect(back)
    raw = (request.form.get("data") or "").strip()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        flash(_("Not moved: the data must be a JSON object."), "error")
        return redirect(back)
    try:
        cases.move(case, current_user.username, request.form.get("activity") or "", data,
                   request.form.get("reason") or "")
    except (ValueError, EngineError) as err:
        details = "; ".join(f"{k}: {', '.join(v)}" for k, v in getattr(err, "errors", {}).items())
        flash(_("Not moved: %(error)s", error=f"{err}" + (f" ({details})" if details else "")), "error")
        return redirect(back)
    flash(_("The case runs on from the chosen step."), "success")
    return redirect(url_for("inbox.case", instance_id=instance_id))


def _visible(instance_id, regions) -> bool:
    try:
        row = instances.get(instance_id)
    except NotFound:
        db.session.rollback()
        return False
    return regions is None or row.region in regions


def _rows(ids):
    return [r for r in (db.session.get(instances.ProcessInstance, i) for i in ids) if r is not None]


# --- moving running cases to a new version (administrators: it spans every region) ------------

@bp.post("/definitions/<int(max=2147483647):definition_id>/migration-preview")
@access.role_required("admin")
def migration_preview(definition_id):
    return _migration(definition_id, run=False)


@bp.post("/definitions/<int(max=2147483647):definition_id>/migrations")
@access.role_required("admin")
def migration_run(definition_id):
    return _migration(definition_id, run=True)


def _migration(definition_id, run: bool):
    from flask import abort
    from engine import definitions
    target = definitions.get(definition_id) or abort(404)
    text = request.form.get("mapping") or ""
    mapping = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        old, sep, new = line.partition("=")
        if not sep or not old.strip() or not new.strip():
            flash(_("Not previewed: write each renamed activity as old_id=new_id (%(line)s).", line=line.strip()),
                  "error")
            return redirect(url_for("inbox.definition", definition_id=definition_id))
        mapping[old.strip()] = new.strip()
    try:
        verdicts = (migration.migrate(target, mapping, current_user.username) if run
                    else migration.preview(target, mapping))
    except EngineError as err:
        details = "; ".join(f"{k}: {', '.join(v)}" for k, v in getattr(err, "errors", {}).items())
        flash(_("Not previewed: %(error)s", error=f"{err}" + (f" ({details})" if details else "")), "error")
        return redirect(url_for("inbox.definition", definition_id=definition_id))
    return render_template("inbox/migration.html", definition=target, verdicts=verdicts, done=run,
                           mapping_text=text)
