"""Reading a session's stored messages, a page at a time."""

from __future__ import annotations

from sqlalchemy import select

from models.message import MessagePage, MessagePublic, messages_table
from services.errors import InvalidCursor
from services.sessions import SessionService
from services.storage import Database

M = messages_table.c


class HistoryService:
    def __init__(self, database: Database, sessions: SessionService) -> None:
        self.database = database
        self.sessions = sessions

    async def page(self, session_id: str, limit: int, before: str | None) -> MessagePage:
        """The newest `limit` messages before `before` (a message id), oldest first."""
        await self.sessions.get(session_id)
        query = select(messages_table).where(M.session_id == session_id)
        async with self.database.read() as db:
            if before:
                before_seq = await db.scalar(
                    select(M.seq).where(M.message_id == before, M.session_id == session_id)
                )
                if before_seq is None:
                    raise InvalidCursor(before)
                query = query.where(M.seq < before_seq)
            query = query.order_by(M.seq.desc()).limit(limit + 1)
            rows = (await db.execute(query)).mappings().all()
        items = [MessagePublic(**row) for row in reversed(rows[:limit])]
        next_cursor = items[0].message_id if len(rows) > limit else None
        return MessagePage(items=items, next_cursor=next_cursor)
