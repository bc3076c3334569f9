"""The REST API for client systems, under /api/v1: JSON, bearer tokens, problem+json errors, OpenAPI.

One module per area (applications and cases, permits, messages, tasks, process instances and
definitions); `operation` ties each route to its checks and its documentation; `openapi`
makes the document (GET /api/v1/openapi.json) and its page (GET /api/v1/docs).
"""
from flask.sessions import SecureCookieSessionInterface

from .blueprint import bp


def register(app) -> None:
    problems.init_app(app)
    app.register_blueprint(bp)
    app.session_interface = _NoCookiesForTheApi()


class _NoCookiesForTheApi(SecureCookieSessionInterface):
    """The API signs in with tokens and never with cookies: its requests get a null session
    (read as empty, refused on write) and its answers set no cookie. Signing and reading the
    inbox's cookie was a fifth of what Flask itself spent on an API call."""

    def open_session(self, app, request):
        if request.path.startswith(bp.url_prefix + "/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


from . import clients, problems  # noqa: E402,F401  the ApiClient table is part of the schema
problems.init_blueprint(bp)
from . import (cases, catalogue, definitions, documents, instances, messages, openapi, operate,  # noqa: E402,F401
               permits, reports, tasks)  # routes
