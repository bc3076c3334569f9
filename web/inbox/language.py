"""The language switch in every page's header: an officer's choice is kept on the account."""
from __future__ import annotations

from flask import abort, current_app, redirect, request, session, url_for
from flask_babel import refresh
from flask_login import current_user

from . import users
from .blueprint import bp
from .auth import safe_path


@bp.post("/language")
def set_language():
    language = request.form.get("language", "")
    if language not in current_app.config["LANGUAGES"]:
        abort(400, description=f"language: must be one of {', '.join(current_app.config['LANGUAGES'])}")
    if current_user.is_authenticated:
        users.set_language(current_user, language, actor=current_user.username)
    else:
        session["language"] = language  # before sign-in, for this browser only
    refresh()
    return redirect(safe_path(request.form.get("back")) or url_for("inbox.home"))
