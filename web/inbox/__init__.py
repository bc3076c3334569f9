"""The officers' inbox: server-rendered pages for officers, supervisors, analysts and admins.

Every page needs sign-in (a blueprint-wide check, so a new page cannot forget it); every form
carries a CSRF token checked for every POST of this blueprint. The REST API, which signs in
with tokens and no cookies, is left to its own rules.
"""
from .blueprint import bp, csrf, login_manager


def init_app(app):
    from . import throttle, users
    # CSRF is checked by this blueprint's own before_request, not for the whole application.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    # A token lives as long as the signed-in session (PERMANENT_SESSION_LIFETIME): a decision
    # form left open while the officer reads the case must still submit.
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config["SESSION_COOKIE_SECURE"] = _secure_cookies(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "inbox.sign_in"
    login_manager.login_message = "Please sign in to see this page."
    login_manager.localize_callback = _localized
    login_manager.login_message_category = "info"
    login_manager.user_loader(users.load_session_user)
    throttle.init_app(app)
    if "babel" not in app.extensions:  # the operations pages' words are translated
        from flask_babel import Babel
        Babel(app)
    app.register_blueprint(bp)
    app.cli.add_command(users.users_cli)


def _localized(message):
    from flask_babel import gettext
    return gettext(message)


def _secure_cookies(app) -> bool:
    value = app.config.get("SESSION_COOKIE_SECURE", "auto")
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return not (app.debug or app.testing)
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


from . import (auth, display, queue, task, case, supervision, definitions, search, language, admin,  # noqa: E402,F401,E501
               workload, absence, reports, operate, catalogue, modeler, saved_filters)
