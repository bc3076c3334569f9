"""Absences and substitutes: set by the officer for themselves, or by a supervisor for an officer
of their region; the substitute is another officer of the same region. Audited (engine/substitutions)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from engine import substitutions
from engine.db import db
from engine.exceptions import NotFound

from . import access, users
from .blueprint import bp
from .admin import _page
from .forms import Form

FIELD_MESSAGES = {  # the engine's reasons, as the form says them
    "an officer cannot substitute for themselves": lambda: gettext("Choose someone other than the absent officer."),
    "the absence ends before it starts": lambda: gettext("The absence ends before it starts."),
    "the absence is over already": lambda: gettext("This absence is over already."),
    "an absence is at most a year": lambda: gettext("An absence is at most a year long."),
    "another substitution covers part of these days": lambda: gettext("Another substitution already covers part of these days."),
}


def _region_officers():
    return users.officers_of(current_user.region) if current_user.region else []


def _may_set_for() -> list:
    """Whose absence the signed-in user may record: themselves (officer), their region's officers (supervisor)."""
    if current_user.has_role("supervisor"):
        return _region_officers()
    return [current_user] if current_user.has_role("officer") else []


@bp.route("/substitutions", methods=["GET", "POST"])
@access.role_required("officer", "supervisor")
def substitutions_page():
    absentees = {u.username for u in _may_set_for()}
    colleagues = _region_officers()
    form = Form() if request.method == "POST" else None
    if form is not None:
        absent = form.choice("absent", absentees)
        substitute = form.choice("substitute", {u.username for u in colleagues})
        starts_on, ends_on = form.day("starts_on"), form.day("ends_on")
        if form.ok:
            try:
                substitutions.add(absent, substitute, starts_on, ends_on, actor=current_user.username)
            except substitutions.SubstitutionError as err:
                db.session.rollback()
                form.error(err.field, FIELD_MESSAGES.get(str(err), lambda: str(err))())
            else:
                flash(gettext("%(substitute)s substitutes for %(absent)s from %(start)s to %(end)s.",
                              substitute=_name(substitute), absent=_name(absent),
                              start=starts_on.strftime("%d.%m.%Y"), end=ends_on.strftime("%d.%m.%Y")), "success")
                return redirect(url_for("inbox.substitutions_page"))
    shown = substitutions.current_and_coming(
        {u.username for u in colleagues} | {current_user.username})
    return _page("inbox/substitutions.html", form, rows=shown, absentees=sorted(absentees),
                 colleagues=colleagues, names={u.username: u.display_name for u in colleagues},
                 may_end=_may_end)


def _may_end(row) -> bool:
    return (current_user.has_role("supervisor") and row.absent in {u.username for u in _region_officers()}) \
        or row.absent == current_user.username


@bp.post("/substitutions/<int:substitution_id>/end")
@access.role_required("officer", "supervisor")
def end_substitution(substitution_id):
    row = db.session.get(substitutions.Substitution, substitution_id)
    if row is None or row.ended_at is not None or not _may_end(row):
        access.refused("substitution")
        return render_template("inbox/error.html", status=404, title=gettext("Not found"),
                               message=gettext("There is no such substitution.")), 404
    try:
        substitutions.end(substitution_id, actor=current_user.username)
    except NotFound:
        db.session.rollback()
    flash(gettext("The substitution for %(absent)s has ended.", absent=_name(row.absent)), "success")
    return redirect(url_for("inbox.substitutions_page"))


def _name(username):
    user = users.by_username(username)
    return user.display_name if user else username


@bp.app_context_processor
def _substitution_globals():
    from flask_login import current_user as user
    return {"substitution_covers": lambda: access.covered() if user.is_authenticated else frozenset()}
