"""Moving between the versions of a conversation: which path is the active one.

A session's history is the path from its first message down to its active leaf
(services/tree.py). Selecting a message makes the active path go through it, down
to the newest message below it: the "< 2/3 >" arrow of a chat UI. It only moves
that pointer; a reply being generated, on any branch, goes on.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Integer, Select, func, literal, select, update

from models.auth import Caller
from models.message import messages_table
from models.session import SessionPublic, sessions_table
from models.types import utcnow
from services.errors import MessageNotFound
from services.sessions import SessionService
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


def _select(db: Connection, message_id: str, visible: ColumnElement[bool]) -> SessionPublic:
    found = db.execute(
        select(M.session_id)
        .join(sessions_table, S.session_id == M.session_id)
        .where(M.message_id == message_id, visible)
    ).first()
    if found is None:
        raise MessageNotFound(message_id)
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


def newest_below(session_id: str, message_id: str) -> Select[tuple[str]]:
    """The newest message of the subtree under `message_id` (itself included). The
    newest message of a subtree has no children yet: it is a leaf."""
    first = select(M.message_id, M.seq, literal(0, Integer).label("depth")).where(
        M.message_id == message_id
    )
    subtree = first.cte("subtree", recursive=True)
    down = select(M.message_id, M.seq, subtree.c.depth + 1).join(
        subtree, (M.session_id == session_id) & (M.parent_id == subtree.c.message_id)
    )
    subtree = subtree.union_all(down)
    newest = select(func.max(subtree.c.seq)).scalar_subquery()
    return select(subtree.c.message_id).where(subtree.c.seq == newest).limit(1)
