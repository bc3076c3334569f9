"""Administration in the browser: accounts, API clients, reference data, calendar day transfers.

Administrators only (anyone else: 404). Each form is read field by field (web/inbox/forms.py), a
bad one is answered 422 with its error next to the field and nothing changed; each change goes
through the same audited function as its `flask ...` command.
"""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user

from engine import calendar, clock
from engine.db import db
from engine.exceptions import NotFound
from handlers import quota, reference
from web.api import clients

from . import access, users
from .blueprint import bp
from .forms import Form

ADMIN = ("admin",)
# What each API scope lets a client do, as the administrator choosing it reads it.
SCOPE_TITLES = {
    "applications:write": lazy_gettext("file applications"),
    "cases:read": lazy_gettext("read cases and reports"),
    "reports:read": lazy_gettext("read reports only (figures, no case)"),
    "permits:read": lazy_gettext("read permits"),
    "revocations:write": lazy_gettext("initiate revocations"),
    "messages:write": lazy_gettext("send messages (police, employer)"),
    "tasks:write": lazy_gettext("work on tasks as an officer"),
    "instances:write": lazy_gettext("start other processes"),
    "definitions:write": lazy_gettext("deploy process definitions"),
    "operations:write": lazy_gettext("operate cases (retry, edit data, cancel, move, migrate)"),
    "metrics:read": lazy_gettext("read the service's metrics (monitoring)"),
}
CLIENT_ROLES = ("officer", "supervisor")
USER_ACTIONS = ("access", "profile", "password", "disable", "enable")
REFERENCE_ACTIONS = ("quota", "mci", "tax_rate", "coefficient", "citizenship_add", "citizenship_remove")


def _regions():
    return current_app.config["REGIONS"]


def _languages():
    return current_app.config["LANGUAGES"]


# --- accounts -------------------------------------------------------------------------------

@bp.route("/admin/users", methods=["GET", "POST"])
@access.role_required(*ADMIN)
def admin_users():
    form = Form() if request.method == "POST" else None
    if form is not None:
        username = form.text("username", required=True, max_length=100)
        if username and any(c.isspace() for c in username):
            form.error("username", gettext("A username has no spaces."))
        elif username and users.by_username(username) is not None:
            form.error("username", gettext("This username is taken."))
        roles, region = _access_fields(form)
        full_name = form.text("full_name")
        position = form.text("position")
        language = form.choice("language", _languages(), required=False)
        password = _password_field(form)
        if form.ok:
            try:
                user = users.create_user(username, password, roles, region, actor=current_user.username,
                                         full_name=full_name, position=position, language=language)
            except users.UserError as err:
                db.session.rollback()
                form.error("username", str(err))
            else:
                flash(gettext("Account %(name)s created.", name=user.username), "success")
                return redirect(url_for("inbox.admin_users"))
    return _page("inbox/admin_users.html", form, users=users.all_users(), roles=users.ROLES)


@bp.route("/admin/users/<username>", methods=["GET", "POST"])
@access.role_required(*ADMIN)
def admin_user(username):
    user = users.by_username(username)
    if user is None:
        return render_template("inbox/error.html", status=404, title=gettext("Not found"),
                               message=gettext("There is no such account.")), 404
    form = Form() if request.method == "POST" else None
    if form is not None:
        action = form.choice("action", USER_ACTIONS)
        me = current_user.username
        change = None
        if action == "access":
            roles, region = _access_fields(form)
            if user.username == me and "admin" not in roles:
                form.error("roles", gettext("You cannot take the administrator role from yourself."))
            change = lambda: users.set_access(username, roles, region, actor=me)  # noqa: E731
        elif action == "profile":
            full_name, position = form.text("full_name"), form.text("position")
            language = form.choice("language", _languages(), required=False)
            change = lambda: users.set_profile(username, actor=me, full_name=full_name or "",  # noqa: E731
                                               position=position or "", language=language)
        elif action == "password":
            password = _password_field(form)
            change = lambda: users.set_password(username, password, actor=me)  # noqa: E731
        elif action in ("disable", "enable"):
            if action == "disable" and user.username == me:
                form.error("action", gettext("You cannot disable your own account."))
            change = lambda: users.set_disabled(username, action == "disable", actor=me)  # noqa: E731
        if form.ok and change is not None:
            try:
                change()
            except users.UserError as err:
                db.session.rollback()
                form.error(action, str(err))
            else:
                flash({"access": gettext("Roles and region of %(name)s saved; their sessions ended.", name=username),
                       "profile": gettext("Profile of %(name)s saved.", name=username),
                       "password": gettext("New password of %(name)s set; their sessions ended.", name=username),
                       "disable": gettext("Account %(name)s disabled.", name=username),
                       "enable": gettext("Account %(name)s enabled again.", name=username)}[action], "success")
                return redirect(url_for("inbox.admin_user", username=username))
    return _page("inbox/admin_user.html", form, user=user, roles=users.ROLES)


def _access_fields(form: Form):
    roles = form.choices("roles", users.ROLES)
    region = form.choice("region", _regions(), required=False)
    regional = [r for r in roles if r in users.REGIONAL_ROLES]
    if regional and region is None and "region" not in form.errors:
        form.error("region", gettext("Officers and supervisors work in one region: choose it."))
    if not regional and region is not None:
        form.error("region", gettext("Administrators and analysts work across regions: choose no region."))
    return roles, region


def _password_field(form: Form):
    password = form.data.get("password") or ""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        form.error("password", gettext("A password has at least %(n)s characters.", n=minimum))
    elif password != (form.data.get("password_again") or ""):
        form.error("password_again", gettext("The two passwords differ."))
    return password


# --- API clients ----------------------------------------------------------------------------

@bp.route("/admin/clients", methods=["GET", "POST"])
@access.role_required(*ADMIN)
def admin_clients():
    form = Form() if request.method == "POST" else None
    token = None
    if form is not None:
        name = form.text("name", required=True, max_length=100)
        if name and not clients.NAME_PATTERN.match(name):
            form.error("name", gettext("Use Latin letters, digits, '.', '_' or '-', starting with a letter or digit."))
        elif name and any(c.name == name for c in clients.all_clients()):
            form.error("name", gettext("This name was used before; client names are never reused."))
        scopes = form.choices("scopes", clients.SCOPES)
        regions = form.choices("regions", _regions(), required=False)
        role = form.choice("role", CLIENT_ROLES, required=False)
        if "tasks:write" in scopes and not role:
            form.error("role", gettext("A client that works on tasks acts as an officer: choose its role."))
        assignee = form.text("assignee", max_length=100)
        if form.ok:
            try:
                client, token = clients.create(name, scopes, regions or None, role, assignee or name,
                                               actor=current_user.username)
            except ValueError as err:
                db.session.rollback()
                form.error("name", str(err))
            else:
                # The token is shown in this answer only: it is stored as a hash, and never redirected.
                form = None
                flash(gettext("Client %(name)s created. Copy its token now: it is shown only once.",
                              name=client.name), "success")
    response = _page("inbox/admin_clients.html", form, clients=clients.all_clients(), token=token,
                     scope_titles=SCOPE_TITLES, client_roles=CLIENT_ROLES)
    if token:
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/admin/clients/<name>/revoke")
@access.role_required(*ADMIN)
def admin_revoke_client(name):
    try:
        clients.revoke(name, actor=current_user.username)
    except LookupError:
        db.session.rollback()
        flash(gettext("There is no client %(name)s.", name=name), "error")
        return redirect(url_for("inbox.admin_clients"))
    flash(gettext("Client %(name)s revoked: its token no longer works.", name=name), "success")
    return redirect(url_for("inbox.admin_clients"))


# --- reference data -------------------------------------------------------------------------

@bp.route("/admin/reference", methods=["GET", "POST"])
@access.role_required(*ADMIN)
def admin_reference():
    year = _shown_year()
    form = Form() if request.method == "POST" else None
    if form is not None:
        action = form.choice("action", REFERENCE_ACTIONS)
        me = current_user.username
        change = None
        if action == "quota":
            region = form.choice("region", _regions())
            year_set = form.whole("year", minimum=2000, maximum=2100)
            units = form.whole("units", minimum=0)
            change = lambda: reference.set_quota(region, year_set, units, actor=me, regions=_regions())  # noqa: E731
        elif action == "mci":
            year_set = form.whole("year", minimum=2000, maximum=2100)
            amount = form.whole("amount_kzt", minimum=1)
            change = lambda: reference.set_mci(year_set, amount, actor=me)  # noqa: E731
        elif action == "tax_rate":
            year_set = form.whole("year", minimum=2000, maximum=2100)
            rate = form.positive_decimal("rate")
            change = lambda: reference.set_tax_rate(year_set, rate, actor=me)  # noqa: E731
        elif action == "coefficient":
            region = form.choice("region", _regions())
            coefficient = form.positive_decimal("coefficient")
            change = lambda: reference.set_regional_coefficient(region, coefficient, actor=me,  # noqa: E731
                                                                regions=_regions())
        elif action in ("citizenship_add", "citizenship_remove"):
            code = (form.text("code", required=True, max_length=2) or "").upper()
            if code and not (len(code) == 2 and code.isascii() and code.isalpha()):
                form.error("code", gettext("Give the country's two-letter code (ISO 3166-1), such as UZ."))
            adding = action == "citizenship_add"
            change = lambda: (reference.add_citizenship if adding else reference.remove_citizenship)(code, actor=me)  # noqa: E731
        if form.ok and change is not None:
            try:
                changed = change()
            except ValueError as err:
                db.session.rollback()
                form.error(action, str(err))
            else:
                db.session.commit()
                flash(gettext("Saved.") if changed else gettext("Nothing changed: it already had this value."),
                      "success")
                return redirect(url_for("inbox.admin_reference", year=year))
    return _page("inbox/admin_reference.html", form, **_reference_tables(year))


def _shown_year() -> int:
    raw = request.args.get("year", "")
    today = clock.local_now().year
    return int(raw) if raw.isdigit() and 2000 <= int(raw) <= 2100 else today


def _reference_tables(year: int) -> dict:
    quotas = []
    for code in _regions():
        try:
            quotas.append(quota.usage(code, year))
        except reference.MissingReferenceData:
            quotas.append({"region": code, "year": year, "quota_units": None})
    return {
        "year": year, "quotas": quotas,
        "mci": db.session.execute(db.select(reference.Mci).order_by(reference.Mci.year.desc())).scalars().all(),
        "tax_rates": db.session.execute(db.select(reference.TaxRate)
                                        .order_by(reference.TaxRate.year.desc())).scalars().all(),
        "coefficients": {row.region: row for row in db.session.execute(
            db.select(reference.RegionalCoefficient)).scalars()},
        "citizenships": db.session.execute(db.select(reference.EligibleCitizenship)
                                           .order_by(reference.EligibleCitizenship.code)).scalars().all(),
    }


# --- calendar day transfers -----------------------------------------------------------------

@bp.route("/admin/calendar", methods=["GET", "POST"])
@access.role_required(*ADMIN)
def admin_calendar():
    form = Form() if request.method == "POST" else None
    if form is not None:
        action = form.choice("action", ("set", "remove"))
        day = form.day("day")
        me = current_user.username
        if action == "set":
            kind = form.choice("kind", ("working", "day_off"))
            reason = form.text("reason", required=True)
            if form.ok:
                calendar.set_override(day, kind == "working", reason, me)
                flash(gettext("Day transfer for %(day)s saved.", day=day.strftime("%d.%m.%Y")), "success")
                return redirect(url_for("inbox.admin_calendar"))
        elif action == "remove" and form.ok:
            try:
                calendar.remove_override(day, me)
            except NotFound:
                db.session.rollback()
                form.error("day", gettext("No stored day transfer for this date."))
            else:
                flash(gettext("Day transfer for %(day)s removed.", day=day.strftime("%d.%m.%Y")), "success")
                return redirect(url_for("inbox.admin_calendar"))
    return _page("inbox/admin_calendar.html", form, overrides=calendar.overrides_in_force(),
                 stored=calendar.STORED_SOURCE)


def _page(template: str, form: Form | None, **context):
    """The page; after a refused form, with its errors by field and the values typed, answered 422."""
    errors = form.errors if form is not None else {}
    response = current_app.make_response(render_template(
        template, errors=errors, values=form.values() if form is not None and errors else {},
        posted_action=(form.data.get("action") if form is not None else None), **context))
    if errors:
        response.status_code = 422
    return response
