"""Who may see and do what: the signed-in user as an engine Actor, and the region rules.

- officer: the tasks of the officer role in their region, and the cases of their region;
- supervisor: their own role's tasks, and oversight (escalated and overdue tasks of the
  SUPERVISED_ROLES, reassignment, incidents) in their region; the cases of their region;
- analyst: process definitions and diagrams; no case or personal data;
- admin: every region's cases, incidents and definitions; no tasks of their own.
Anything outside these is answered "not found", never "forbidden", so that a link to another
region's case tells nothing about it; each refusal is in the audit log.
"""
from __future__ import annotations

from functools import wraps

from flask import abort, current_app, g, request
from flask_login import current_user

from engine import audit, instances, substitutions, tasks
from engine.db import db
from engine.exceptions import NotFound


def actor() -> tasks.Actor:
    """The signed-in user as the engine sees them for their own tasks (and those of the absent
    officers they substitute for today)."""
    return tasks.Actor(current_user.username, frozenset(current_user.roles or []), regions(),
                       covers=covered())


def covered() -> frozenset:
    """The officers the signed-in officer substitutes for today."""
    if not current_user.has_role("officer"):
        return frozenset()
    cache = g.setdefault("substitution_covers", {})
    if current_user.username not in cache:
        cache[current_user.username] = substitutions.covered_by(current_user.username)
    return cache[current_user.username]


def supervising_actor() -> tasks.Actor:
    """The signed-in supervisor acting on the tasks of the roles they oversee."""
    return tasks.Actor(current_user.username, frozenset(current_app.config["SUPERVISED_ROLES"]),
                       regions())


def regions() -> frozenset | None:
    """The regions whose cases the user may see (None: every region)."""
    if current_user.has_role("admin"):
        return None
    if current_user.has_role("officer", "supervisor") and current_user.region:
        return frozenset({current_user.region})
    return frozenset()


def may_see_region(region: str | None) -> bool:
    allowed = regions()
    return allowed is None or (region is not None and region in allowed)


def may_see_cases() -> bool:
    return current_user.has_role("officer", "supervisor", "admin")


def visible_instance(instance_id: str):
    """The process instance (a case), if the user may see its region; else 404."""
    try:
        row = instances.get(instance_id)
    except NotFound:
        abort(404)
    if not may_see_cases() or not may_see_region(row.region):
        refused("case", instance_id=instance_id)
        abort(404)
    return row


def refused(what: str, instance_id: str | None = None, task_id: str | None = None) -> None:
    """Record an attempt to reach something outside the user's roles or region."""
    db.session.rollback()  # a page's read transaction ends; the record is a short write of its own
    audit.record("access_refused", actor=current_user.username, task_id=task_id,
                 details={"what": what, "instance_id": instance_id, "path": request.path,
                          "method": request.method})
    db.session.commit()


def role_required(*roles):
    """The view is for these roles only; anyone else gets 404 (the page does not exist for them)."""
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.has_role(*roles):
                refused(request.endpoint or "page")
                abort(404)
            return view(*args, **kwargs)
        return wrapped
    return decorate
