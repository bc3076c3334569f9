"""Officers and other people who sign in to the inbox: accounts, passwords, lock-out, `flask users`.

Passwords are stored as werkzeug hashes only. Failed sign-ins are throttled per client address
and per (name, address) (web/inbox/throttle.py): an account is never locked as a whole, so no
one can lock an officer out from elsewhere. A session names the account's password and its
session generation: signing out, a new password or disabling the account ends every session
on the server side. Every change to an account is in the audit log (never a password or its hash).
"""
from __future__ import annotations

import hashlib
import hmac
import sys

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from engine import audit, clock
from engine.db import UTCDateTime, db
from handlers.identity import deceptive_characters

from . import throttle

ROLES = ("officer", "supervisor", "analyst", "admin")
# Roles whose work is bound to one region; admin and analyst work across the country.
REGIONAL_ROLES = ("officer", "supervisor")
# Compared against when the username is unknown, so both answers take as long.
_DUMMY_HASH = generate_password_hash("not-a-password")


class UserError(ValueError):
    """An account change refused, with the reason in plain words."""


class User(UserMixin, db.Model):
    __tablename__ = "app_user"

    id = sa.Column(sa.Integer, primary_key=True)
    username = sa.Column(sa.String(100), nullable=False, unique=True)
    full_name = sa.Column(sa.String(300))
    password_hash = sa.Column(sa.String(300), nullable=False)
    roles = sa.Column(sa.JSON, nullable=False, default=list)
    region = sa.Column(sa.String(20))
    disabled = sa.Column(sa.Boolean, nullable=False, default=False)
    # Raised by sign-out, a new password and disabling: every session signed in before ends.
    session_generation = sa.Column(sa.Integer, nullable=False, default=0, server_default="0")
    created_at = sa.Column(UTCDateTime, nullable=False)
    # The inbox language this officer chose (kk, ru, en); empty: the configured default.
    language = sa.Column(sa.String(5))
    # The officer's position, printed under the name on the documents they decide.
    position = sa.Column(sa.String(300))

    def get_id(self):
        return f"{self.id}:{self.session_fingerprint()}"

    def session_fingerprint(self) -> str:
        # The password hash is in it too, so a password set outside this code ends sessions as well.
        text = f"{self.password_hash}:{self.session_generation or 0}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def end_sessions(self) -> None:
        """End every session of this account, on every device (checked on each request)."""
        self.session_generation = (self.session_generation or 0) + 1

    @property
    def is_active(self):
        return not self.disabled

    def has_role(self, *roles) -> bool:
        return any(role in (self.roles or []) for role in roles)

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


def load_session_user(session_id: str) -> User | None:
    """The signed-in user a session names, if the account still exists, is enabled and has
    the same password."""
    user_id, _, fingerprint = (session_id or "").partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.disabled or not hmac.compare_digest(user.session_fingerprint(), fingerprint):
        return None
    return user


def by_username(username: str) -> User | None:
    return db.session.execute(sa.select(User).filter_by(username=username)).scalar_one_or_none()


def authenticate(username: str, password: str) -> tuple[User | None, str | None]:
    """(user, None) when the password is right and the account may sign in, else (None, reason).

    Reasons: "invalid" (unknown user, wrong password, or sign-in paused for this name from this
    address: told apart only in the audit log) and "disabled" (the right password of a disabled
    account). Every path compares a password hash and commits an audit event, so none answers
    faster than another. Every attempt is audited and committed.
    """
    user = by_username(username) if username else None
    paused = throttle.paused(username)
    right = check_password_hash(user.password_hash if user is not None else _DUMMY_HASH, password or "")
    if user is None or not right or paused:
        if not right or user is None:
            throttle.record_failure(username)
        reason = "paused" if paused else "unknown user" if user is None else "wrong password"
        audit.record("sign_in_failed", actor=(username or "?")[:100], details={"reason": reason})
        if not paused and throttle.paused(username):
            audit.record("sign_in_paused", actor=(username or "?")[:100],
                         details={"address": throttle.client_address()})
        db.session.commit()
        return None, "invalid"
    if user.disabled:
        audit.record("sign_in_refused", actor=user.username, details={"reason": "disabled"})
        db.session.commit()
        return None, "disabled"
    throttle.forget_failures(username)
    audit.record("user_signed_in", actor=user.username)
    db.session.commit()
    return user, None


def sign_out(user: User) -> None:
    """End the user's sessions on the server side (a copied cookie no longer works)."""
    user.end_sessions()
    audit.record("user_signed_out", actor=user.username)
    db.session.commit()


def create_user(username: str, password: str, roles, region: str | None, *, actor: str,
                full_name: str | None = None, position: str | None = None,
                language: str | None = None) -> User:
    username = (username or "").strip()
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise UserError("a username is 1 to 100 characters without spaces")
    if by_username(username) is not None:
        raise UserError(f"user {username!r} already exists")
    roles = _checked_roles(roles)
    region = _checked_region(roles, region)
    if deceptive_characters(full_name or ""):
        raise UserError(f"the full name holds invisible direction or zero-width characters "
                        f"({', '.join(deceptive_characters(full_name))})")
    language = _checked_language(language) if language else None
    user = User(username=username, full_name=full_name or None, password_hash=_hash(password),
                roles=roles, region=region, disabled=False, session_generation=0,
                created_at=clock.now(), position=position or None, language=language)
    db.session.add(user)
    audit.record("user_created", actor=actor, details={"username": username, "roles": roles,
                                                       "region": region})
    db.session.commit()
    return user


def set_language(user: User, language: str, *, actor: str) -> User:
    """The inbox language the officer reads from now on (one of LANGUAGES)."""
    user.language = _checked_language(language)
    audit.record("user_language_set", actor=actor, details={"username": user.username,
                                                            "language": user.language})
    db.session.commit()
    return user


def set_profile(username: str, *, actor: str, full_name: str | None = None, position: str | None = None,
                language: str | None = None) -> User:
    """What documents print under an officer's decision (name, position) and the inbox language."""
    user = _existing(username)
    if full_name is not None:
        user.full_name = full_name.strip() or None
    if position is not None:
        user.position = position.strip() or None
    if language is not None:
        user.language = _checked_language(language)
    audit.record("user_profile_set", actor=actor, details={
        "username": username, "full_name": user.full_name, "position": user.position, "language": user.language})
    db.session.commit()
    return user


def _checked_language(language) -> str:
    languages = current_app.config["LANGUAGES"]
    if language not in languages:
        raise UserError(f"language must be one of {', '.join(languages)}, not {language!r}")
    return language


def set_password(username: str, password: str, *, actor: str) -> User:
    user = _existing(username)
    user.password_hash = _hash(password)
    user.end_sessions()
    audit.record("user_password_set", actor=actor, details={"username": username})
    db.session.commit()
    return user


def set_disabled(username: str, disabled: bool, *, actor: str) -> User:
    user = _existing(username)
    user.disabled = disabled
    if disabled:
        user.end_sessions()
    audit.record("user_disabled" if disabled else "user_enabled", actor=actor,
                 details={"username": username})
    db.session.commit()
    return user


def set_access(username: str, roles, region: str | None, *, actor: str) -> User:
    """New roles and region for an account; its open sessions end, so the change holds at once."""
    user = _existing(username)
    roles = _checked_roles(roles)
    region = _checked_region(roles, region)
    old = {"roles": list(user.roles or []), "region": user.region}
    user.roles, user.region = roles, region
    user.end_sessions()
    audit.record("user_access_set", actor=actor, details={"username": username, "old": old,
                                                          "roles": roles, "region": region})
    db.session.commit()
    return user


def all_users() -> list[User]:
    return list(db.session.execute(sa.select(User).order_by(User.username)).scalars())


def officers_of(region: str, role: str = "officer") -> list[User]:
    """Enabled users holding `role` in `region` (a reassignment's possible targets)."""
    users = db.session.execute(sa.select(User).filter_by(region=region, disabled=False)
                               .order_by(User.username)).scalars()
    return [u for u in users if u.has_role(role)]


def _existing(username):
    user = by_username(username)
    if user is None:
        raise UserError(f"no user {username!r}")
    return user


def _hash(password):
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if not isinstance(password, str) or len(password) < minimum:
        raise UserError(f"a password has at least {minimum} characters")
    return generate_password_hash(password)


def _checked_roles(roles) -> list[str]:
    roles = sorted({r.strip() for r in roles or [] if r and r.strip()})
    if not roles:
        raise UserError(f"give at least one role of {', '.join(ROLES)}")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise UserError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    return roles


def _checked_region(roles, region):
    region = (region or "").strip().upper() or None
    regional = [r for r in roles if r in REGIONAL_ROLES]
    if regional and region is None:
        raise UserError(f"the role(s) {', '.join(regional)} need a region")
    if not regional and region is not None:
        raise UserError("admin and analyst accounts work across regions: give no region")
    if region is not None and region not in current_app.config["REGIONS"]:
        raise UserError(f"unknown region {region!r}")
    return region


# --- flask users ... -----------------------------------------------------------------------

users_cli = AppGroup("users", help="Accounts of the officers' inbox.")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES),
              help="A role (repeat for several).")
@click.option("--region", default=None, help="Region code (officers and supervisors).")
@click.option("--name", "full_name", default=None, help="Full name, shown on pages and documents.")
@click.option("--position", default=None, help="Position, printed under the name on documents.")
@click.option("--language", default=None, help="Inbox language (kk, ru or en).")
@click.password_option(help="The password (asked for when not given).")
@click.option("--actor", default="cli", help="Who does this, for the audit log.")
def create_command(username, roles, region, full_name, position, language, password, actor):
    """Create the account USERNAME."""
    _run(lambda: create_user(username, password, roles, region, actor=actor, full_name=full_name,
                             position=position, language=language),
         lambda u: f"created {u.username} ({', '.join(u.roles)}{', ' + u.region if u.region else ''})")


@users_cli.command("set-password")
@click.argument("username")
@click.password_option(help="The new password (asked for when not given).")
@click.option("--actor", default="cli", help="Who does this, for the audit log.")
def set_password_command(username, password, actor):
    """Give USERNAME a new password (ends their open sessions)."""
    _run(lambda: set_password(username, password, actor=actor), lambda u: f"password of {u.username} set")


@users_cli.command("disable")
@click.argument("username")
@click.option("--actor", default="cli", help="Who does this, for the audit log.")
def disable_command(username, actor):
    """Disable USERNAME: no sign-in, and open sessions end."""
    _run(lambda: set_disabled(username, True, actor=actor), lambda u: f"{u.username} disabled")


@users_cli.command("enable")
@click.argument("username")
@click.option("--actor", default="cli", help="Who does this, for the audit log.")
def enable_command(username, actor):
    """Enable USERNAME again."""
    _run(lambda: set_disabled(username, False, actor=actor), lambda u: f"{u.username} enabled")


@users_cli.command("set-profile")
@click.argument("username")
@click.option("--name", "full_name", default=None, help="Full name, shown on pages and documents.")
@click.option("--position", default=None, help="Position, printed under the name on documents.")
@click.option("--language", default=None, help="Inbox language (kk, ru or en).")
@click.option("--actor", default="cli", help="Who does this, for the audit log.")
def set_profile_command(username, full_name, position, language, actor):
    """Set the full name, position or inbox language of USERNAME (those given)."""
    _run(lambda: set_profile(username, actor=actor, full_name=full_name, position=position, language=language),
         lambda u: f"{u.username}: {u.full_name or '-'}, {u.position or '-'}, {u.language or 'default language'}")


@users_cli.command("list")
def list_command():
    """Every account with its roles, region and state."""
    for user in db.session.execute(sa.select(User).order_by(User.username)).scalars():
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.username}\t{','.join(user.roles)}\t{user.region or '-'}\t{state}")


def _run(action, describe):
    try:
        user = action()
    except UserError as err:
        db.session.rollback()
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(describe(user))
