"""Moving between the versions of a conversation: which path is the active one.

A session's history is the path from its first message down to its active leaf
(services/tree.py). Selecting a message makes the active path go through it, down
to the newest message below it: the "< 2/3 >" arrow of a chat UI. It only moves
that pointer; a reply being generated, on any branch, goes on.

Deleting a message deletes the subtree below it, in one transaction; if the active
path went through it, the path moves to the newest message left below its parent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Row,
    Select,
    delete,
    func,
    select,
    update,
)

from models.auth import Caller
from models.message import MessageStatus, messages_table
from models.session import SessionPublic, sessions_table
from models.types import utcnow
from services.audit import record_event
from services.errors import MessageNotFound, TurnInProgress
from services.sessions import SessionService, visible_message
from services.storage import Database

M = messages_table.c
S = sessions_table.c


class BranchService:
    def __init__(self, database: Database, sessions: SessionService) -> None:
        self.database = database
        self.sessions = sessions

    async def select(self, message_id: str, caller: Caller) -> SessionPublic:
        """Make the session's active path go through `message_id`, down to the newest
        message below it; the session as it is then. MessageNotFound for a message
        the caller cannot see (another key's is exactly a missing one)."""
        visible = self.sessions.visible(caller, utcnow())
        return await self.database.write(_select, message_id, visible)

    async def delete(self, message_id: str, caller: Caller) -> None:
        """Delete `message_id` and every message below it, recorded in the audit trail.
        MessageNotFound as for select; TurnInProgress while a reply of that subtree is
        being generated (stop it first)."""
        visible = self.sessions.visible(caller, utcnow())
        await self.database.write(_delete_subtree, message_id, visible, caller)


def _find(db: Connection, message_id: str, visible: ColumnElement[bool]) -> Row[Any, Any, Any]:
    """The message's session, parent and the session's active leaf; MessageNotFound
    unless the caller may see it."""
    found = db.execute(
        visible_message(message_id, visible, M.session_id, M.parent_id, S.active_leaf_id)
    ).first()
    if found is None:
        raise MessageNotFound(message_id)
    return found


def _select(db: Connection, message_id: str, visible: ColumnElement[bool]) -> SessionPublic:
    found = _find(db, message_id, visible)
    leaf = db.execute(newest_below(found.session_id, message_id)).scalar_one()
    row = (
        db.execute(
            update(sessions_table)
            .where(S.session_id == found.session_id)
            .values(active_leaf_id=leaf, last_accessed=utcnow())
            .returning(sessions_table)
        )
        .mappings()
        .one()
    )
    return SessionPublic(**row)


def _delete_subtree(
    db: Connection, message_id: str, visible: ColumnElement[bool], caller: Caller
) -> None:
    found = _find(db, message_id, visible)
    below = subtree(found.session_id, message_id)
    rows = db.execute(select(below.c.message_id, below.c.status)).all()
    streaming = [row.message_id for row in rows if row.status == MessageStatus.STREAMING]
    if streaming:
        raise TurnInProgress(found.session_id, streaming[0])
    doomed = {row.message_id for row in rows}
    db.execute(delete(messages_table).where(M.message_id.in_(select(below.c.message_id))))
    leaf = found.active_leaf_id
    if leaf in doomed:
        leaf = _newest_left(db, found.session_id, found.parent_id)
    db.execute(
        update(sessions_table)
        .where(S.session_id == found.session_id)
        .values(
            active_leaf_id=leaf,
            message_count=S.message_count - len(doomed),
            last_accessed=utcnow(),
        )
    )
    record_event(db, caller, "message.delete", found.session_id)


def _newest_left(db: Connection, session_id: str, parent_id: str | None) -> str | None:
    """Where the active path goes when its end was deleted: the newest message left
    below the deleted one's parent (the parent itself when none), or for a deleted
    first message the session's newest message (None when nothing is left)."""
    if parent_id is not None:
        return str(db.execute(newest_below(session_id, parent_id)).scalar_one())
    newest = select(M.message_id).where(M.session_id == session_id).order_by(M.seq.desc())
    return db.execute(newest.limit(1)).scalar()


def subtree(session_id: str, message_id: str) -> CTE:
    """`message_id` and every message below it (message_id, seq, status), walked down
    through the (session_id, parent_id) index."""
    first = select(M.message_id, M.seq, M.status).where(M.message_id == message_id)
    below = first.cte("subtree", recursive=True)
    down = select(M.message_id, M.seq, M.status).join(
        below, (M.session_id == session_id) & (M.parent_id == below.c.message_id)
    )
    return below.union_all(down)


def newest_below(session_id: str, message_id: str) -> Select[tuple[str]]:
    """The newest message of the subtree under `message_id` (itself included). The
    newest message of a subtree has no children yet: it is a leaf."""
    below = subtree(session_id, message_id)
    newest = select(func.max(below.c.seq)).scalar_subquery()
    return select(below.c.message_id).where(below.c.seq == newest).limit(1)
