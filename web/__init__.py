"""HTTP: the REST API for client systems and the officers' inbox."""


def register(app):
    from . import health
    app.register_blueprint(health.bp)
