"""Fixtures: an application on SQLite (default) or on PostgreSQL when DATABASE_URL says so.

The schema comes from the migrations, applied once per test session on an emptied
database; after each test every table is emptied again.
"""
import os
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

import config as config_module
from app import create_app
from engine.db import db

TESTS_DIR = Path(__file__).resolve().parent
SAMPLE_BPMN = TESTS_DIR / "bpmn" / "sample.bpmn"
SAMPLE_FORMS = TESTS_DIR / "bpmn" / "forms"

import tests.sample_operators  # noqa: E402,F401  registers the sample diagram's operators


def _database_url():
    url = os.environ.get("DATABASE_URL")
    if url:
        return config_module._database_url()
    path = Path(tempfile.mkdtemp(prefix="permits-test-")) / "test.db"
    return f"sqlite:///{path}"


DATABASE_URL = _database_url()
IS_POSTGRES = DATABASE_URL.startswith("postgresql")


AUDIT_ARCHIVE_DIR = tempfile.mkdtemp(prefix="audit-archive-")  # archived audit months of this run
DOCUMENT_STORE_DIR = tempfile.mkdtemp(prefix="document-store-")  # emptied after each test, as the tables are


def make_config(**overrides):
    # The suite reads English, the source text; tests of the languages ask for kk or ru themselves.
    attrs = {"SQLALCHEMY_DATABASE_URI": DATABASE_URL, "FORMS_DIR": str(SAMPLE_FORMS), "AUDIT_ARCHIVE_DIR": AUDIT_ARCHIVE_DIR,
             "DOCUMENT_STORE_DIR": DOCUMENT_STORE_DIR, "DEFAULT_LANGUAGE": "en", "DOCUMENT_LANGUAGES": ["kk", "ru"]}
    attrs.update(overrides)
    return type("Config", (config_module.TestConfig,), attrs)


@pytest.fixture(scope="session")
def migrated_database():
    app = create_app(make_config())
    with app.app_context():
        if IS_POSTGRES:
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        from flask_migrate import upgrade
        upgrade()
        db.engine.dispose()
    return DATABASE_URL


@pytest.fixture
def app(migrated_database):
    yield from running_app()


def running_app(**config):
    """An application inside its context (with caches of its own); afterwards its tables are emptied."""
    app = create_app(make_config(**config))
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()
        _empty_directory(app.config["DOCUMENT_STORE_DIR"])


@pytest.fixture
def client(app):
    return app.test_client()


def _empty_tables():
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if IS_POSTGRES:
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            # The audit log's triggers refuse DELETE: lift them for the emptying, restored as they were.
            triggers = conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
            for name, _ in triggers:
                conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
            for table in tables:
                conn.execute(sa.text(f'DELETE FROM "{table}"'))
            for _, sql in triggers:
                conn.execute(sa.text(sql))


def _empty_directory(path):
    import shutil
    if not Path(path).is_dir():
        return
    for entry in Path(path).iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def deploy_sample(app, path=SAMPLE_BPMN):
    from engine import definitions
    return definitions.deploy_file(path, app.config, actor="test")
