"""Finding profiles: words in the name or description, a tag, any of three orders,
keyset paging that holds whatever the order.

The cursor carries the order it was made for with the last row's key, so a cursor
reused with another order is refused (422 invalid_cursor) rather than skipping or
repeating rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, or_, select, tuple_

from models.profile import ProfilePublic, profile_tags_table, profiles_table
from services.cursors import decode_cursor, encode_cursor
from services.errors import InvalidCursor

P = profiles_table.c
T = profile_tags_table.c
SortKey = Literal["name", "created_at", "updated_at"]
Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class ProfileQuery:
    """What GET /api/profiles asks for."""

    q: str | None = None
    tag: str | None = None
    sort: SortKey = "updated_at"
    order: Order = "desc"
    limit: int = 50
    cursor: str | None = None


def search_query(query: ProfileQuery, visible: ColumnElement[bool]) -> Select[Any]:
    """The page's rows (one more than the limit: is there a next page?)."""
    statement = select(profiles_table).where(visible)
    if query.q:
        pattern = f"%{_escape_like(query.q)}%"
        statement = statement.where(
            or_(P.name.ilike(pattern, escape="\\"), P.description.ilike(pattern, escape="\\"))
        )
    if query.tag:
        statement = statement.where(
            P.profile_id.in_(select(T.profile_id).where(T.tag == query.tag))
        )
    column = P[query.sort]
    if query.cursor:
        value, profile_id = _after(query)
        key = tuple_(column, P.profile_id)
        statement = statement.where(
            key > (value, profile_id) if query.order == "asc" else key < (value, profile_id)
        )
    if query.order == "asc":
        statement = statement.order_by(column.asc(), P.profile_id.asc())
    else:
        statement = statement.order_by(column.desc(), P.profile_id.desc())
    return statement.limit(query.limit + 1)


def next_cursor(query: ProfileQuery, last: ProfilePublic) -> str:
    value = getattr(last, query.sort)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return encode_cursor(query.sort, query.order, text, last.profile_id)


def _after(query: ProfileQuery) -> tuple[Any, str]:
    """The cursor's key, checked against the order asked for."""
    assert query.cursor is not None
    sort, order, value, profile_id = decode_cursor(query.cursor, 4)
    if (sort, order) != (query.sort, query.order):
        raise InvalidCursor(query.cursor)
    if sort == "name":
        return value, profile_id
    try:
        return datetime.fromisoformat(value), profile_id
    except ValueError as exc:
        raise InvalidCursor(query.cursor) from exc


def _escape_like(text: str) -> str:
    """`text` matched literally by LIKE: its %, _ and \\ escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
