"""The language of each answer: the officer's own choice, else the browser's, else the default.

- a signed-in officer reads the inbox in `User.language` (chosen on any page), else DEFAULT_LANGUAGE;
- the sign-in page, before anyone is known, follows the browser's Accept-Language;
- the REST API answers problem titles and details in the client's Accept-Language, else
  API_DEFAULT_LANGUAGE (English, what existing clients read).
"""
from __future__ import annotations

from flask import current_app, has_request_context, request
from flask_babel import Babel, get_locale

API_PREFIX = "/api/"
babel = Babel()


def init_app(app) -> None:
    babel.init_app(app, locale_selector=select_language,
                   default_translation_directories=app.config["BABEL_TRANSLATION_DIRECTORIES"],
                   default_timezone=app.config["CALENDAR_TIMEZONE"])
    app.jinja_env.globals["current_language"] = current_language


def select_language() -> str:
    config = current_app.config
    languages = list(config["LANGUAGES"])
    if not has_request_context():
        return config["DEFAULT_LANGUAGE"]
    if request.path.startswith(API_PREFIX):
        return request.accept_languages.best_match(languages) or config["API_DEFAULT_LANGUAGE"]
    from flask_login import current_user
    chosen = getattr(current_user, "language", None) if current_user and current_user.is_authenticated else None
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated:
        return config["DEFAULT_LANGUAGE"]
    from flask import session
    if session.get("language") in languages:  # chosen on the sign-in page
        return session["language"]
    return request.accept_languages.best_match(languages) or config["DEFAULT_LANGUAGE"]


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else current_app.config["DEFAULT_LANGUAGE"]
