"""Page cursors: the sort key of a page's last item, as opaque URL-safe text.

Lists page by keyset (the next page starts after the last item's sort key), never by offset,
so a page neither skips nor repeats items when others come and go meanwhile.
"""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime

from .problems import validation

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def encode(*key) -> str:
    """Datetimes as ISO 8601 (aware), None as null, text as is."""
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, *kinds: str) -> tuple:
    """The key a cursor carries; `kinds` says what each part must be: "time", "time?" (or null),
    "uuid", "text" (a string of at most 300 characters). Anything else is a 422 on `cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError
        return tuple(_part(value, kind) for value, kind in zip(values, kinds))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise validation({"cursor": ["not a cursor this service gave"]}) from None


def _part(value, kind: str):
    if kind == "time?" and value is None:
        return None
    if kind in ("time", "time?"):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError
        return moment
    if kind == "uuid" and isinstance(value, str) and _UUID.match(value):
        return value
    if kind == "text" and isinstance(value, str) and len(value) <= 300:
        return value
    raise ValueError
