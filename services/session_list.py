"""GET /api/sessions: which sessions a page holds, in what order.

Filters: full-text `q` over titles and message text (services/search/query.py),
`metadata.<key>=<value>`, `profile_id`, `pinned`, `archived` (archived sessions are
hidden unless asked for). Sorts: last access, creation or title, either way, each
keyset-paged on (sort value, session_id) so that a page is an index range and a
session added meanwhile is neither skipped nor repeated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal,
    select,
    tuple_,
)

from models.session import SessionPage, SessionPublic, sessions_table
from services.cursors import decode_cursor, encode_cursor
from services.errors import InvalidCursor, InvalidSearch
from services.search.query import Matcher, words_of

S = sessions_table.c
META = sessions_table.c["metadata"]
SortKey = Literal["last_accessed", "created_at", "title"]
METADATA_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MAX_METADATA_FILTERS = 8


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """What a page of the session list asks for (the query string's fields)."""

    limit: int = 20
    cursor: str | None = None
    q: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    profile_id: str | None = None
    pinned: bool | None = None
    archived: bool = False
    sort: SortKey = "last_accessed"
    order: Literal["asc", "desc"] = "desc"


def page_statement(query: SessionQuery, dialect: str, visible: ColumnElement[bool]) -> Select[Any]:
    """The page's statement: its filters, its cursor's range, one row more than
    the page (to know whether another follows)."""
    statement = select(sessions_table).where(visible, *_filters(query, dialect))
    key = _sort_column(query.sort)
    if query.cursor:
        after = tuple_(key, S.session_id)
        bound = _decode(query.cursor, query.sort)
        statement = statement.where(after < bound if query.order == "desc" else after > bound)
    if query.order == "desc":
        statement = statement.order_by(key.desc(), S.session_id.desc())
    else:
        statement = statement.order_by(key.asc(), S.session_id.asc())
    return statement.limit(query.limit + 1)


def page_of(rows: list[dict[str, Any]], query: SessionQuery) -> SessionPage:
    """The page's items and the cursor of the next, if there is one."""
    items = [SessionPublic(**row) for row in rows[: query.limit]]
    if len(rows) <= query.limit:
        return SessionPage(items=items, next_cursor=None)
    last = items[-1]
    value: Any = {
        "last_accessed": last.last_accessed,
        "created_at": last.created_at,
        "title": last.title or "",
    }[query.sort]
    text = value.isoformat() if isinstance(value, datetime) else value
    return SessionPage(items=items, next_cursor=encode_cursor(text, last.session_id))


def _filters(query: SessionQuery, dialect: str) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [S.archived.is_(query.archived)]
    if query.pinned is not None:
        conditions.append(S.pinned.is_(query.pinned))
    if query.profile_id is not None:
        conditions.append(S.profile_id == query.profile_id)
    if len(query.metadata) > MAX_METADATA_FILTERS:
        raise InvalidSearch(f"at most {MAX_METADATA_FILTERS} metadata.<key> filters")
    for key, value in query.metadata.items():
        conditions.append(_metadata_value(key, dialect) == value)
    if query.q is not None:
        matcher = Matcher(dialect, words_of(query.q))
        conditions.append(S.session_id.in_(matcher.matching_sessions()))
    return conditions


def _metadata_value(key: str, dialect: str) -> ColumnElement[Any]:
    """The metadata's value at `key` as text (a number as written, a boolean as
    true/false); InvalidSearch for a key that is not a plain name."""
    if not METADATA_KEY.fullmatch(key):
        raise InvalidSearch(f"metadata.{key}: a key is 1-64 letters, digits, - or _")
    if dialect != "sqlite":
        return META.op("->>")(bindparam(None, key, type_=String))
    path = literal(f'$."{key}"')
    kind = func.json_type(META, path)
    as_text = cast(func.json_extract(META, path), String)
    return func.iif(kind.in_(["true", "false"]), kind, as_text)


def _sort_column(sort: SortKey) -> ColumnElement[Any]:
    if sort == "title":
        return func.coalesce(S.title, "")
    return S.created_at if sort == "created_at" else S.last_accessed


def _decode(cursor: str, sort: SortKey) -> tuple[Any, str]:
    value, session_id = decode_cursor(cursor, 2)
    if sort == "title":
        return value, session_id
    try:
        return datetime.fromisoformat(value), session_id
    except ValueError as exc:
        raise InvalidCursor(cursor) from exc
