"""A rehearsal: engine work done inside one transaction that is rolled back at the end.

Inside `isolated(...)` every session this thread opens (also through `db.session.remove()`
and new application contexts) is bound to one connection holding an outer transaction, and
its commits only release savepoints; configuration reads see the given overrides (e.g. the
simulators in place of other systems); in-process caches are neither read nor filled. Other
threads see none of it. The rehearsal's tables are its own: a schema of its own made inside
the transaction on PostgreSQL, a scratch database on SQLite, so it neither reads nor locks
the live data, and nothing of it outlives the rollback.
"""
from __future__ import annotations

import shutil
import tempfile
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import sqlalchemy as sa
from flask import Config

from .db import REHEARSAL_CONNECTION as _CONNECTION  # owned by db, which reads it

_OVERRIDES: ContextVar[dict | None] = ContextVar("isolated_config", default=None)


def connection() -> sa.engine.Connection | None:
    """The rehearsal's connection when this thread is inside one."""
    return _CONNECTION.get()


def active() -> bool:
    return _CONNECTION.get() is not None


@contextmanager
def isolated(overrides: dict | None = None):
    """Run the body against fresh tables in a transaction that is always rolled back."""
    from .db import db
    live = db.engine
    scratch_dir = None
    if live.dialect.name == "postgresql":
        engine = live
    else:
        scratch_dir = Path(tempfile.mkdtemp(prefix="rehearsal-"))
        engine = sa.create_engine(f"sqlite:///{scratch_dir / 'rehearsal.db'}")
    conn = engine.connect()
    outer = conn.begin()
    try:
        if engine.dialect.name == "postgresql":
            schema = f"rehearsal_{uuid.uuid4().hex[:12]}"
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            conn.execute(sa.text(f'SET LOCAL search_path TO "{schema}"'))
        db.metadata.create_all(conn)
        conn_token, config_token = _CONNECTION.set(conn), _OVERRIDES.set(dict(overrides or {}))
        try:
            yield conn
        finally:
            _CONNECTION.reset(conn_token)
            _OVERRIDES.reset(config_token)
    finally:
        outer.rollback()
        conn.close()
        if scratch_dir is not None:
            engine.dispose()
            shutil.rmtree(scratch_dir, ignore_errors=True)


class IsolatingConfig(Config):
    """The application's configuration, as a rehearsal in this thread overrides it."""

    def __getitem__(self, key):
        overrides = _OVERRIDES.get()
        if overrides and key in overrides:
            return overrides[key]
        return super().__getitem__(key)

    def get(self, key, default=None):
        overrides = _OVERRIDES.get()
        if overrides and key in overrides:
            return overrides[key]
        return super().get(key, default)
