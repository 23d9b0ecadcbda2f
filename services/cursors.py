"""Keyset cursors: the sort key of a page's last row, opaque to clients.

A cursor is the row's key values as a JSON list, base64url without padding. A cursor
that does not decode to as many strings as the list's key has is InvalidCursor (400).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from services.errors import InvalidCursor


def encode_cursor(*values: str) -> str:
    raw = json.dumps(list(values))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCursor(cursor) from exc
    if not isinstance(values, list) or len(values) != size:
        raise InvalidCursor(cursor)
    if not all(isinstance(value, str) for value in values):
        raise InvalidCursor(cursor)
    return values


def decode_time_cursor(cursor: str) -> tuple[datetime, str]:
    """A cursor of (a time, an id), the usual newest-first key."""
    stamp, row_id = decode_cursor(cursor, 2)
    try:
        return datetime.fromisoformat(stamp), row_id
    except ValueError as exc:
        raise InvalidCursor(cursor) from exc
