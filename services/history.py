"""Reading a session's stored messages: a page at a time, or all of it (export)."""

from __future__ import annotations

from sqlalchemy import select

from models.auth import Caller
from models.message import MessagePage, MessagePublic, SessionExport, messages_table
from services.audit import record_event
from services.errors import InvalidCursor
from services.sessions import SessionService
from services.storage import Database

M = messages_table.c


class HistoryService:
    def __init__(self, database: Database, sessions: SessionService) -> None:
        self.database = database
        self.sessions = sessions

    async def page(
        self, session_id: str, caller: Caller, limit: int, before: str | None
    ) -> MessagePage:
        """The newest `limit` messages before `before` (a message id), oldest first."""
        await self.sessions.get(session_id, caller)
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

    async def export(self, session_id: str, caller: Caller) -> SessionExport:
        """The session and every message, oldest first; recorded in the audit trail
        (a whole conversation leaving the service is a security event)."""
        session = await self.sessions.get(session_id, caller)
        await self.database.write(record_event, caller, "session.export", session_id)
        query = select(messages_table).where(M.session_id == session_id).order_by(M.seq)
        async with self.database.read() as db:
            rows = (await db.execute(query)).mappings().all()
        return SessionExport(session=session, messages=[MessagePublic(**row) for row in rows])
