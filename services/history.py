"""Reading a session's stored messages: its active path a page at a time, or every
message of its tree (export)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from models.auth import Caller
from models.context import ContextPlan
from models.message import (
    PREVIEW_CHARS,
    MessagePage,
    MessagePublic,
    SessionExport,
    TreeNode,
    TreePage,
    messages_table,
)
from models.session import sessions_table
from services.audit import record_event
from services.errors import InvalidCursor, InvalidLeaf, MessageNotFound, ServiceError
from services.memory.errors import NoContextPlan
from services.sessions import SessionService
from services.storage import Database
from services.tree import PATH_PAGE, page_params, sibling_places, siblings_query

M = messages_table.c
S = sessions_table.c


class HistoryService:
    def __init__(self, database: Database, sessions: SessionService) -> None:
        self.database = database
        self.sessions = sessions

    async def page(
        self,
        session_id: str,
        caller: Caller,
        limit: int,
        before: str | None,
        leaf: str | None = None,
    ) -> MessagePage:
        """The newest `limit` messages of the path ending at `leaf` (by default the
        active leaf) before `before` (a message id of it), oldest first: a walk up the
        tree from that end, or from the parent of `before`."""
        session = await self.sessions.get(session_id, caller)
        async with self.database.read() as db:
            end = session.active_leaf_id
            if before:  # the page ends at the parent of `before`
                end = (await _message_of(db, session_id, before, InvalidCursor)).parent_id
            elif leaf:
                end = (await _message_of(db, session_id, leaf, InvalidLeaf)).message_id
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

    async def tree(
        self, session_id: str, caller: Caller, limit: int, after: str | None
    ) -> TreePage:
        """Every message of the session as a node, in creation order, `limit` at a time
        after message `after`: one range of the (session_id, seq) index per page."""
        await self.sessions.get(session_id, caller)
        preview = func.substr(M.content, 1, PREVIEW_CHARS).label("preview")
        query = select(M.message_id, M.parent_id, M.role, M.status, M.created_at, preview)
        query = query.where(M.session_id == session_id)
        async with self.database.read() as db:
            if after:
                after_seq = (await _message_of(db, session_id, after, InvalidCursor)).seq
                query = query.where(M.seq > after_seq)
            rows = (await db.execute(query.order_by(M.seq).limit(limit + 1))).mappings().all()
        items = [TreeNode(**row) for row in rows[:limit]]
        next_cursor = items[-1].message_id if len(rows) > limit else None
        return TreePage(items=items, next_cursor=next_cursor)

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

    async def context(self, message_id: str, caller: Caller) -> ContextPlan:
        """What was sent for the reply `message_id`, as its turn planned and counted it.
        MessageNotFound unless the caller may see it; NoContextPlan without one."""
        query = self.sessions.visible_message(message_id, caller, M.context_plan)
        async with self.database.read() as db:
            found = (await db.execute(query)).first()
        if found is None:
            raise MessageNotFound(message_id)
        if found.context_plan is None:
            raise NoContextPlan(message_id)
        return ContextPlan.from_stored(message_id, found.context_plan)


def _public(row: Row[Any], places: dict[str, tuple[int, int]]) -> MessagePublic:
    index, count = places.get(row.message_id, (0, 1))
    return MessagePublic(**row._mapping, sibling_index=index, sibling_count=count)


async def _message_of(
    db: AsyncConnection, session_id: str, message_id: str, unknown: type[ServiceError]
) -> Row[Any, Any, Any]:
    """The message's id, parent and position when it is one of the session's; else
    `unknown` (a bad cursor or leaf) naming it."""
    found = (
        await db.execute(
            select(M.message_id, M.parent_id, M.seq).where(
                M.message_id == message_id, M.session_id == session_id
            )
        )
    ).first()
    if found is None:
        raise unknown(message_id)
    return found
