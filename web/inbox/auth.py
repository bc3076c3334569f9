"""Sign-in and sign-out, and what every page of the inbox requires before it runs."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (current_app, flash, redirect, render_template, request, session, url_for)
from flask_babel import gettext, lazy_gettext
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError

from engine import audit
from engine.db import db
from engine.exceptions import Conflict, EngineError, Forbidden, NotFound

from . import throttle, users
from .blueprint import bp, csrf, login_manager

PUBLIC_ENDPOINTS = {"inbox.sign_in", "inbox.static", "inbox.set_language"}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
# One answer for an unknown name, a wrong password and a paused name: none tells which it was.
SIGN_IN_ANSWERS = {
    "invalid": lazy_gettext("Wrong username or password. After several failed attempts sign-in pauses "
                            "for a few minutes."),
    "disabled": lazy_gettext("This account is disabled. Ask an administrator."),
}


@bp.before_request
def require_sign_in_and_csrf():
    if request.method not in SAFE_METHODS and not same_origin():
        return _foreign_form()
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()  # POST, PUT, PATCH, DELETE without a valid token end here with 400
    if request.endpoint not in PUBLIC_ENDPOINTS and not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def same_origin() -> bool:
    """A state-changing request comes from a page of this site (Origin, else Referer), so a valid
    CSRF token lifted into a foreign page is not enough. Neither header: not a browser form."""
    allowed = {request.host_url.rstrip("/").lower()} | {o.rstrip("/").lower()
                                                        for o in current_app.config["TRUSTED_ORIGINS"]}
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if not referer:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.rstrip("/").lower() in allowed


@bp.after_request
def security_headers(response):
    # No inline scripts anywhere; bpmn-js sets style attributes on the SVG it draws.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "inbox.static":
        # Pages hold personal data: never kept by a shared browser or a proxy.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if request.method == "POST":
        throttle.count_attempt()
    target = safe_path(request.values.get("next"))
    if current_user.is_authenticated:
        return redirect(target or url_for("inbox.home"))
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        user, reason = users.authenticate(username, request.form.get("password", ""))
        if user is not None:
            session.clear()  # a fresh session for the signed-in user (no fixation)
            session.permanent = True
            login_user(user)
            flash(gettext("Signed in as %(name)s.", name=user.display_name), "success")
            return redirect(target or url_for("inbox.home"))
        error = str(SIGN_IN_ANSWERS[reason])
    return render_template("inbox/sign_in.html", error=error, username=username, next=target), (
        401 if error else 200)


@bp.post("/sign-out")
def sign_out():
    users.sign_out(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(gettext("Signed out."), "success")
    return redirect(url_for("inbox.sign_in"))


@bp.get("/")
def home():
    if current_user.has_role("supervisor"):
        return redirect(url_for("inbox.overview"))
    if current_user.has_role("officer"):
        return redirect(url_for("inbox.queue"))
    if current_user.has_role("admin"):
        return redirect(url_for("inbox.incidents"))
    return redirect(url_for("inbox.definitions"))


@bp.errorhandler(CSRFError)
def csrf_failed(err):
    return render_template("inbox/error.html", status=400, title=gettext("The form has expired"),
                           message=gettext("The page was open too long or came from elsewhere. Go "
                                           "back, reload the page and try again.")), 400


@bp.errorhandler(429)
def too_many_attempts(err):
    return render_template("inbox/error.html", status=429, title=gettext("Too many attempts"),
                           message=gettext("Too many sign-in attempts came from your address. Wait a "
                                           "few minutes and try again.")), 429


def _foreign_form():
    return render_template("inbox/error.html", status=403, title=gettext("The form came from elsewhere"),
                           message=gettext("This form was sent from another site, so it was not "
                                           "accepted. Open the page in the inbox and send it from "
                                           "there.")), 403


@bp.errorhandler(404)
def not_found(err):
    return render_template("inbox/error.html", status=404, title=gettext("Not found"),
                           message=gettext("There is no such page, or it is not in your region or role.")), 404


@bp.errorhandler(EngineError)
def engine_error(err):
    status = {NotFound: 404, Forbidden: 403, Conflict: 409}.get(type(err), getattr(err, "status", 400))
    db.session.rollback()
    return render_template("inbox/error.html", status=status, title=gettext("Not possible"),
                           message=str(err)), status


def safe_path(target):
    """Only a path of this site, never another host (no open redirect); else None."""
    if not target:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in target):  # CR/LF would split the Location header
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return None
    return target
