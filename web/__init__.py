"""HTTP: the REST API for client systems and the officers' inbox."""


def register(app):
    from . import availability, log_masking
    log_masking.install(app)
    availability.init_app(app)
    from . import i18n
    i18n.init_app(app)
    from . import health, metrics
    app.register_blueprint(health.bp)
    metrics.init_app(app)
    from . import api
    api.register(app)
    from . import inbox
    inbox.init_app(app)
