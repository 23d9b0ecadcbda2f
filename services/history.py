"""Reading a session's stored messages: its active path a page at a time, or every
message of its tree (export)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from models.auth import Caller
from models.message import MessagePage, MessagePublic, SessionExport, messages_table
from models.session import SessionPublic
from services.audit import record_event
from services.errors import InvalidCursor
from services.sessions import SessionService
from services.storage import Database
from services.tree import PATH_PAGE, page_params, sibling_places, siblings_query

M = messages_table.c


class HistoryService:
    def __init__(self, database: Database, sessions: SessionService) -> None:
        self.database = database
        self.sessions = sessions

    async def page(
        self, session_id: str, caller: Caller, limit: int, before: str | None
    ) -> MessagePage:
        """The active path's newest `limit` messages before `before` (a message id of
        it), oldest first: a walk up the tree from the session's active leaf, or from
        the parent of `before`."""
        session = await self.sessions.get(session_id, caller)
        async with self.database.read() as db:
            end = await _page_end(db, session, before) if before else session.active_leaf_id
            rows: Sequence[Row[Any]] = []
            if end is not None:
                rows = (await db.execute(PATH_PAGE, page_params(end, limit))).all()
            parents = {row.parent_id for row in rows}
            children = (await db.execute(siblings_query(session_id, parents))).all() if rows else []
        places = sibling_places([(child.parent_id, child.message_id) for child in children])
        path = sorted(rows, key=lambda row: row.depth, reverse=True)  # oldest first
        items = [_public(row, places) for row in path]
        more = bool(path) and path[0].parent_id is not None
        return MessagePage(items=items, next_cursor=items[0].message_id if more else None)

    async def export(self, session_id: str, caller: Caller) -> SessionExport:
        """The session and every message, oldest first; recorded in the audit trail
        (a whole conversation leaving the service is a security event)."""
        session = await self.sessions.get(session_id, caller)
        await self.database.write(record_event, caller, "session.export", session_id)
        query = select(messages_table).where(M.session_id == session_id).order_by(M.seq)
        async with self.database.read() as db:
            rows = (await db.execute(query)).all()
        places = sibling_places([(row.parent_id, row.message_id) for row in rows])
        return SessionExport(session=session, messages=[_public(row, places) for row in rows])


def _public(row: Row[Any], places: dict[str, tuple[int, int]]) -> MessagePublic:
    index, count = places.get(row.message_id, (0, 1))
    message = MessagePublic.model_validate(row, from_attributes=True)
    return message.model_copy(update={"sibling_index": index, "sibling_count": count})


async def _page_end(db: AsyncConnection, session: SessionPublic, before: str) -> str | None:
    """Where the page before message `before` ends: its parent. InvalidCursor when
    `before` is no message of the session."""
    found = (
        await db.execute(
            select(M.parent_id).where(M.message_id == before, M.session_id == session.session_id)
        )
    ).first()
    if found is None:
        raise InvalidCursor(before)
    parent: str | None = found.parent_id
    return parent
