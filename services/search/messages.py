"""GET /api/search: the caller's messages that hold every word of a query, newest
first, each with its session's title and a snippet around the match.

Every message is searched, on every branch (an edited message's older version too),
except replies still being generated. Keyset-paged on (created_at, seq, message_id).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, tuple_

from models.auth import Caller
from models.message import messages_table
from models.search import SearchHit, SearchPage
from models.session import sessions_table
from models.types import utcnow
from services.cursors import decode_cursor, encode_cursor
from services.errors import InvalidCursor
from services.search.indexer import SearchIndexer
from services.search.query import Matcher, words_of
from services.search.snippets import snippet, word_pattern
from services.sessions import SessionService
from services.storage import Database

M = messages_table.c
S = sessions_table.c


class MessageSearch:
    def __init__(
        self, database: Database, sessions: SessionService, indexer: SearchIndexer
    ) -> None:
        self.database, self.sessions, self.indexer = database, sessions, indexer

    async def search(
        self, query: str, caller: Caller, limit: int, cursor: str | None
    ) -> SearchPage:
        """A page of the caller's matching messages; InvalidSearch for a query with
        no words, InvalidCursor for a cursor this did not hand out."""
        words = words_of(query)
        matcher = Matcher(self.database.engine.dialect.name, words)
        statement = self._statement(matcher, caller, limit, cursor)
        await self.indexer.catch_up()
        async with self.database.read() as db:
            rows = (await db.execute(statement)).mappings().all()
        pattern = word_pattern(words)
        hits = [_hit(row, pattern) for row in rows[:limit]]
        last = hits[-1] if len(rows) > limit else None
        next_cursor = None
        if last is not None:
            seq = str(rows[limit - 1].seq)
            next_cursor = encode_cursor(last.created_at.isoformat(), seq, last.message_id)
        return SearchPage(items=hits, next_cursor=next_cursor)

    def _statement(
        self, matcher: Matcher, caller: Caller, limit: int, cursor: str | None
    ) -> Select[Any]:
        statement = (
            select(
                M.message_id,
                M.session_id,
                M.role,
                M.created_at,
                M.content,
                M.seq,
                S.title.label("session_title"),
            )
            .join(sessions_table, S.session_id == M.session_id)
            .where(matcher.message_matches(), self.sessions.visible(caller, utcnow()))
        )
        if cursor:
            statement = statement.where(tuple_(M.created_at, M.seq, M.message_id) < _decode(cursor))
        order = (M.created_at.desc(), M.seq.desc(), M.message_id.desc())
        return statement.order_by(*order).limit(limit + 1)


def _decode(cursor: str) -> tuple[datetime, int, str]:
    """(created_at, seq, message_id): seq orders a turn's user message before its
    reply, which share their time."""
    stamp, seq, message_id = decode_cursor(cursor, 3)
    try:
        return datetime.fromisoformat(stamp), int(seq), message_id
    except ValueError as exc:
        raise InvalidCursor(cursor) from exc


def _hit(row: Any, pattern: Any) -> SearchHit:
    shown, marks = snippet(row.content, pattern)
    return SearchHit(
        message_id=row.message_id,
        session_id=row.session_id,
        session_title=row.session_title,
        role=row.role,
        created_at=row.created_at,
        snippet=shown,
        highlights=marks,
    )
