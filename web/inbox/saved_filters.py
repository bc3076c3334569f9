"""Queue filters: read from a page's parameters, and saved by an officer under names of their
own (scope, step, procedure, sort), shown as links above the queue; only their owner sees, uses
or deletes them (the pages are in queue.py)."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from flask import url_for
from flask_babel import gettext

from engine.db import UTCDateTime, db

NAME_MAX = 80
PER_USER_MAX = 30
SCOPES = ("all", "mine", "unassigned")
SORTS = ("due", "created", "step", "case")
DEFAULT_SORT = "due"


class BadFilter(ValueError):
    """A queue parameter refused; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def parse_filter(args) -> dict:
    """The queue's filter from query parameters: scope (an unknown one is "all", as before),
    step, procedure and sort ("due", "created", "step", "case"; "-" first reverses it). An
    unknown sort is refused (BadFilter), never silently replaced."""
    scope = args.get("scope", "all")
    sort = args.get("sort") or DEFAULT_SORT
    if sort.lstrip("-") not in SORTS or sort.startswith("--"):
        raise BadFilter("sort", gettext("one of %(sorts)s, or one of them after “-” for the reverse order",
                                        sorts=", ".join(SORTS)))
    for name in ("step", "process"):
        if len(args.get(name) or "") > 200:
            raise BadFilter(name, gettext("at most 200 characters"))
    return {"scope": scope if scope in SCOPES else "all", "step": args.get("step") or None,
            "process": args.get("process") or None, "sort": sort}


def filter_query(view: dict) -> str:
    """The filter as a query string, defaults left out (what a saved filter stores)."""
    defaults = {"scope": "all", "sort": DEFAULT_SORT}
    return urlencode([(k, view[k]) for k in ("scope", "step", "process", "sort")
                      if view.get(k) and view[k] != defaults.get(k)])



class SavedFilter(db.Model):
    __tablename__ = "saved_filter"
    __table_args__ = (sa.UniqueConstraint("username", "name", name="uq_saved_filter_username_name"),)

    id = sa.Column(sa.Integer, primary_key=True)
    username = sa.Column(sa.String(100), nullable=False)
    name = sa.Column(sa.String(NAME_MAX), nullable=False)
    # The filter as the queue's query string, defaults left out ("scope=mine&sort=-case").
    query = sa.Column(sa.String(1000), nullable=False)
    created_at = sa.Column(UTCDateTime, nullable=False)

    @property
    def url(self) -> str:
        return url_for("inbox.queue", **dict(parse_qsl(self.query)))


def of(username: str) -> list[SavedFilter]:
    """The officer's own saved filters, by name."""
    return list(db.session.execute(sa.select(SavedFilter).where(SavedFilter.username == username)
                                   .order_by(SavedFilter.name, SavedFilter.id)).scalars())
