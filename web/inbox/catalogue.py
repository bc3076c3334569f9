"""Analysts and administrators: the operators and forms a diagram may use, as the service knows them."""
from __future__ import annotations

from flask import current_app, render_template
from flask_babel import Babel

from engine import catalogue as engine_catalogue

from . import access
from .blueprint import bp

ROLES = ("analyst", "admin")


@bp.record_once
def _translations(state):
    # Until the translations branch brings its own set-up, the page's strings still go through gettext.
    if "babel" not in state.app.extensions:
        Babel(state.app)


@bp.get("/catalogue")
@access.role_required(*ROLES)
def catalogue():
    from .modeler import newest_versions
    return render_template("inbox/catalogue.html", processes=newest_versions(),
                           operators=engine_catalogue.operator_catalogue(),
                           forms=engine_catalogue.form_catalogue(current_app.config["FORMS_DIR"]))
