"""Sign-in throttling, with the `limits` library: per client address, and per (user name, address).

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

Only the sign-in form is counted, by the view itself: no hook runs on the other requests (a
Flask-Limiter extension checked every API call for limits it did not have: about 1 ms each).
"""
from __future__ import annotations

import hashlib

from flask import abort, current_app, has_request_context, request
from limits import parse, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


def init_app(app) -> None:
    parse_many(app.config["LOGIN_RATE_LIMIT"])  # a malformed limit stops the start, not a sign-in
    app.extensions["sign_in_throttle"] = MovingWindowRateLimiter(
        storage_from_string(app.config["RATELIMIT_STORAGE_URI"]))


def _limiter() -> MovingWindowRateLimiter:
    return current_app.extensions["sign_in_throttle"]


def count_attempt() -> None:
    """Count a sign-in attempt from this address; 429 once it is over LOGIN_RATE_LIMIT."""
    address = client_address()
    for limit in parse_many(per_address_limit()):
        if not _limiter().hit(limit, "sign-in", address):
            abort(429)


def client_address() -> str:
    """The address the request came from (behind a proxy, configure werkzeug's ProxyFix)."""
    if not has_request_context():  # the command line, a test: one local caller
        return "local"
    return request.remote_addr or "unknown"


def per_address_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def paused(username: str) -> bool:
    """Has this name failed too often from this address lately?"""
    return not _limiter().test(_failure_limit(), *_failure_key(username))


def record_failure(username: str) -> None:
    _limiter().hit(_failure_limit(), *_failure_key(username))


def forget_failures(username: str) -> None:
    _limiter().clear(_failure_limit(), *_failure_key(username))


def _failure_limit():
    config = current_app.config
    return parse(f"{int(config['LOGIN_MAX_FAILURES'])} per {int(config['LOGIN_LOCKOUT_MINUTES'])} minutes")


def _failure_key(username: str) -> tuple[str, str, str]:
    # Names are hashed: the counter store holds no list of who tried which name.
    name = hashlib.sha256((username or "").strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return "sign-in-failures", name, client_address()
