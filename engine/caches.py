"""The engine's caches, owned by the application they serve.

What the engine remembers between requests (the live workflows of running instances, the newest
version of each procedure, stored definitions by id, the state compression dictionaries) is
keyed by database ids, so it belongs to one application and its database, never to the process:
each application gets its own the first time it asks (`get`), and `clear(app)` empties them all
(after a restore, or when tests empty the tables and ids are reused). Pure caches keyed by
content (parsed specs by content hash, compiled expressions) stay with their modules.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from flask import current_app

T = TypeVar("T")
_EXTENSION = "engine.caches"


def of(app) -> dict:
    """Every cache of the application, by name."""
    return app.extensions.setdefault(_EXTENSION, {})


def get(name: str, factory: Callable[[], T]) -> T:
    """The current application's cache `name`, made by `factory()` the first time it is asked for."""
    store = current_app.extensions.get(_EXTENSION)
    if store is None:
        store = of(current_app)
    found = store.get(name)
    if found is None:
        found = store[name] = factory()
    return found


def clear(app) -> None:
    """Empty every cache of the application (each has a clear())."""
    for cache in of(app).values():
        cache.clear()
