"""API clients and their bearer tokens: who calls, with which scopes, for which regions.

A token is 32 random bytes (URL-safe text), shown once when it is created; only its SHA-256
is stored. A client acting on officers' tasks carries a role and an assignee name; `regions`
limits every look-up and change to those regions (none = every region).
Administered with `flask tokens create|revoke|list` (audited).
"""
from __future__ import annotations

import hashlib
import re
import secrets
import sys
from dataclasses import dataclass

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from engine import audit, clock
from engine.db import Prepared, UTCDateTime, db, session_connection
from engine.tasks import Actor

SCOPES = ("applications:write", "cases:read", "permits:read", "revocations:write",
          "messages:write", "tasks:write", "instances:write", "definitions:write",
          "operations:write", "metrics:read", "reports:read")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ACTOR_PREFIX = "api:"


class _Rules:
    """What a client may do, from its name, regions, role and assignee (a row or a caller)."""

    @property
    def actor(self) -> str:
        """The name the audit log gives this client's changes."""
        return ACTOR_PREFIX + self.name

    def covers(self, region: str | None) -> bool:
        return not self.regions or region in self.regions

    def officer(self) -> Actor:
        """The officer this client acts as on human tasks (the inbox's rules apply)."""
        return Actor(name=self.assignee or self.name,
                     roles=frozenset({self.role}) if self.role else frozenset(),
                     regions=frozenset(self.regions) if self.regions else None)


class ApiClient(_Rules, db.Model):
    __tablename__ = "api_client"

    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(100), nullable=False, unique=True)
    token_hash = sa.Column(sa.String(64), nullable=False, unique=True)
    scopes = sa.Column(sa.JSON, nullable=False)
    regions = sa.Column(sa.JSON)  # null: every region
    role = sa.Column(sa.String(50))
    assignee = sa.Column(sa.String(200))
    created_at = sa.Column(UTCDateTime, nullable=False)
    revoked_at = sa.Column(UTCDateTime)

    def as_dict(self) -> dict:
        return {"name": self.name, "scopes": list(self.scopes), "regions": self.regions,
                "role": self.role, "assignee": self.assignee,
                "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def create(name: str, scopes, regions=None, role: str | None = None, assignee: str | None = None,
           actor: str = "cli") -> tuple[ApiClient, str]:
    """Create a client; returns it and its token (the only time the token is known)."""
    if not NAME_PATTERN.match(name or ""):
        raise ValueError("a client name is 1 to 100 letters, digits, '.', '_' or '-'")
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"unknown scope(s) {unknown}; known: {', '.join(SCOPES)}" if unknown
                         else "give at least one --scope")
    if regions:
        known = current_app.config["REGIONS"]
        bad = [r for r in regions if r not in known]
        if bad:
            raise ValueError(f"unknown region(s) {bad}; known: {', '.join(known)}")
        regions = sorted(set(regions))
    if "tasks:write" in scopes and not role:
        raise ValueError("a client with tasks:write acts as an officer: give --role")
    if db.session.execute(sa.select(ApiClient.id).filter_by(name=name)).first() is not None:
        raise ValueError(f"a client named {name!r} exists (names are never reused)")
    assignee = (assignee or "").strip() or None  # four eyes compares the name tasks are done as
    token = secrets.token_urlsafe(32)
    client = ApiClient(name=name, token_hash=token_hash(token), scopes=scopes, regions=regions or None,
                       role=role or None, assignee=assignee or None, created_at=clock.now())
    db.session.add(client)
    audit.record("api_client_created", actor=actor, details={
        "client": name, "scopes": scopes, "regions": regions or None, "role": role, "assignee": assignee})
    db.session.commit()
    return client, token


def revoke(name: str, actor: str = "cli") -> ApiClient:
    client = db.session.execute(sa.select(ApiClient).filter_by(name=name)).scalar_one_or_none()
    if client is None:
        raise LookupError(f"no client named {name!r}")
    if client.revoked_at is None:
        client.revoked_at = clock.now()
        audit.record("api_client_revoked", actor=actor, details={"client": name})
        db.session.commit()
    return client


def all_clients() -> list[ApiClient]:
    return list(db.session.execute(sa.select(ApiClient).order_by(ApiClient.name)).scalars())


@dataclass(frozen=True, slots=True)
class Caller(_Rules):
    """The active client of a request, as read when it called: not a row the session tracks."""
    id: int
    name: str
    scopes: tuple
    regions: tuple | None
    role: str | None
    assignee: str | None


def authenticate(token: str) -> Caller | None:
    """The active client this token belongs to, or None."""
    if not token or len(token) > 200:
        return None
    # Read on every call (a revocation holds from the next request) by a prepared statement
    # (engine.db), into a plain caller: the ORM's general execution path and a mapped object's
    # instrumented constructor cost more than the query.
    rows = _BY_TOKEN.rows(session_connection(), {"token_hash": token_hash(token)})
    if not rows:
        return None
    client_id, name, scopes, regions, role, assignee = rows[0]
    return Caller(client_id, name, tuple(scopes), tuple(regions) if regions else None, role, assignee)


_TABLE = ApiClient.__table__
_BY_TOKEN = Prepared(sa.select(_TABLE.c.id, _TABLE.c.name, _TABLE.c.scopes, _TABLE.c.regions, _TABLE.c.role,
                               _TABLE.c.assignee)
                     .where(_TABLE.c.token_hash == sa.bindparam("token_hash"), _TABLE.c.revoked_at.is_(None)))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# --- command line -----------------------------------------------------------------------------

tokens_cli = AppGroup("tokens", help="API clients and their bearer tokens.")


@tokens_cli.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              help=f"A scope (repeat, or separate with commas): {', '.join(SCOPES)}.")
@click.option("--region", "regions", multiple=True, help="A region code the client may act in "
              "(repeat, or separate with commas); none: every region.")
@click.option("--role", default=None, help="The officer role a tasks:write client acts with.")
@click.option("--assignee", default=None, help="The officer name tasks are claimed as (default: NAME).")
@click.option("--actor", default="cli", help="Who creates it, for the audit log.")
def create_command(name, scopes, regions, role, assignee, actor):
    """Create client NAME and print its token once (it is stored only as a hash)."""
    try:
        _, token = create(name, _split(scopes), _split(regions), role, assignee, actor)
    except ValueError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(token)
    click.echo(f"client {name} created; the token above is shown only now", err=True)


@tokens_cli.command("revoke")
@click.argument("name")
@click.option("--actor", default="cli", help="Who revokes it, for the audit log.")
def revoke_command(name, actor):
    """Revoke the token of client NAME at once."""
    try:
        revoke(name, actor)
    except LookupError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(f"client {name} revoked")


@tokens_cli.command("list")
def list_command():
    """Every client: scopes, regions, role, and whether it is revoked."""
    for client in all_clients():
        state = f"revoked {client.revoked_at:%Y-%m-%d %H:%M}" if client.revoked_at else "active"
        click.echo(f"{client.name}\t{','.join(client.scopes)}\t{','.join(client.regions or ['*'])}\t"
                   f"{client.role or '-'}\t{client.assignee or '-'}\t{state}")


def register_cli(app) -> None:
    app.cli.add_command(tokens_cli)


def _split(values) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
