"""The migrations build the schema the models describe, from an empty database."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.db import db


def test_migrations_from_empty_match_the_models(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], diff
