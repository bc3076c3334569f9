"""The application factory and CLI registration."""
import gc
import os

from flask import Flask
from flask_migrate import Migrate

from config import Config
from engine.db import db
from engine.isolation import IsolatingConfig

migrate = Migrate()


class App(Flask):
    config_class = IsolatingConfig  # a scenario rehearsal overrides settings for its own thread only


def create_app(config=None):
    app = App(__name__, instance_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance"))
    app.config.from_object(config or Config)
    os.makedirs(app.instance_path, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations"))

    import engine.models  # noqa: F401  every table, so migrations and queries see them
    import handlers  # registers the permit operators and tables
    handlers.init_app(app)  # `flask reference ...` and the domain's share of each sweep
    from engine import cli as engine_cli
    engine_cli.register(app)
    from web.api import clients as api_clients
    api_clients.register_cli(app)  # `flask tokens ...`
    import web
    web.register(app)
    import seeding
    app.cli.add_command(seeding.demo_cli)  # `flask demo seed`, for development

    if app.config.get("DEPLOY_ON_START"):
        _deploy_processes(app)
    from engine import scheduler
    scheduler.init_app(app)  # the timer sweep, when SCHEDULER_ENABLED says this process runs it
    if app.config.get("GC_FREEZE_ON_START"):
        # Everything loaded so far (modules, mappers, specs) lives as long as the process:
        # moved out of the collector's reach, the cyclic GC runs that SpiffWorkflow's many
        # small objects trigger stop re-scanning it (bench/engine.py: about 10% of a step).
        gc.collect()
        gc.freeze()
    return app


def _deploy_processes(app):
    import sqlalchemy as sa
    from engine import definitions
    with app.app_context():
        if not sa.inspect(db.engine).has_table("process_definition"):
            app.logger.warning("database schema missing: run `flask db upgrade`; diagrams not deployed")
            return
        for result in definitions.deploy_directory(app.config["PROCESSES_DIR"], app.config, actor="startup"):
            if result.created:
                app.logger.info("deployed %s version %s", result.process_id, result.version)
