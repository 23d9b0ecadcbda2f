"""Reading a session's summaries (services/memory/summarizer.py writes them)."""

from __future__ import annotations

from sqlalchemy import select, tuple_

from models.auth import Caller
from models.summary import SummaryPage, SummaryPublic, summaries_table
from services.cursors import decode_time_cursor, encode_cursor
from services.sessions import SessionService
from services.storage import Database

SU = summaries_table.c
PUBLIC_COLUMNS = [
    column for column in summaries_table.c if column.name in SummaryPublic.model_fields
]


class SummaryService:
    def __init__(self, database: Database, sessions: SessionService) -> None:
        self.database, self.sessions = database, sessions

    async def list_page(
        self, session_id: str, caller: Caller, limit: int, cursor: str | None
    ) -> SummaryPage:
        """The session's summaries, newest first, keyset-paged on (created_at, id);
        SessionNotFound unless the caller may see the session."""
        query = select(*PUBLIC_COLUMNS).where(SU.session_id == session_id)
        if cursor:
            created_at, summary_id = decode_time_cursor(cursor)
            query = query.where(tuple_(SU.created_at, SU.summary_id) < (created_at, summary_id))
        query = query.order_by(SU.created_at.desc(), SU.summary_id.desc()).limit(limit + 1)
        async with self.database.read() as db:
            await self.sessions.require_visible(db, session_id, caller)
            rows = (await db.execute(query)).mappings().all()
        items = [SummaryPublic(**row) for row in rows[:limit]]
        last = items[-1] if len(rows) > limit else None
        next_cursor = encode_cursor(last.created_at.isoformat(), last.summary_id) if last else None
        return SummaryPage(items=items, next_cursor=next_cursor)
