"""Sign-in throttling, with Flask-Limiter: per client address, and per (user name, address).

The policy, chosen so that nobody can shut an officer out from elsewhere:
- every client address may try LOGIN_RATE_LIMIT sign-ins (10 a minute, 60 an hour), whatever
  the names: a password spray from one address stops there (429);
- LOGIN_MAX_FAILURES failed sign-ins for one name *from one address* pause sign-in for that
  name from that address for LOGIN_LOCKOUT_MINUTES. The officer at their own desk is not
  affected by failures elsewhere, and an unknown name pauses exactly like a known one.
- the pause is never announced: a paused attempt gets the same answer as a wrong password,
  after the same password-hash comparison (no account existence or lock state leaks).

Counters live in RATELIMIT_STORAGE_URI: "memory://" keeps them per process, so with several
gunicorn workers use a shared store (redis://...), or each worker would count on its own.
"""
from __future__ import annotations

import hashlib

from flask import current_app, has_request_context, request
from flask_limiter import Limiter
from limits import parse

limiter = Limiter(key_func=lambda: client_address(), strategy="moving-window")


def init_app(app) -> None:
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    limiter.init_app(app)


def client_address() -> str:
    """The address the request came from (behind a proxy, configure werkzeug's ProxyFix)."""
    if not has_request_context():  # the command line, a test: one local caller
        return "local"
    return request.remote_addr or "unknown"


def per_address_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def paused(username: str) -> bool:
    """Has this name failed too often from this address lately?"""
    return not limiter.limiter.test(_failure_limit(), *_failure_key(username))


def record_failure(username: str) -> None:
    limiter.limiter.hit(_failure_limit(), *_failure_key(username))


def forget_failures(username: str) -> None:
    limiter.limiter.clear(_failure_limit(), *_failure_key(username))


def _failure_limit():
    config = current_app.config
    return parse(f"{int(config['LOGIN_MAX_FAILURES'])} per {int(config['LOGIN_LOCKOUT_MINUTES'])} minutes")


def _failure_key(username: str) -> tuple[str, str, str]:
    # Names are hashed: the counter store holds no list of who tried which name.
    name = hashlib.sha256((username or "").strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return "sign-in-failures", name, client_address()
