"""A session's turn status, read from the database: right whichever worker asks.

While a turn streams, its text is checkpointed (services/turns/turn.py), so chars_so_far
follows the generation within a checkpoint interval, from any process.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select

from models.auth import Caller
from models.chat import TurnStatus
from models.message import MessageStatus, Role, messages_table
from models.session import sessions_table
from services.sessions import SessionService
from services.storage import Database

M = messages_table.c
S = sessions_table.c
IDLE = "idle"


class TurnStatusReader:
    def __init__(self, database: Database, sessions: SessionService) -> None:
        self.database = database
        self.sessions = sessions

    async def status(self, session_id: str, caller: Caller) -> TurnStatus:
        """The state of the newest assistant message; polling it is not access."""
        async with self.database.read() as db:
            await self.sessions.require_visible(db, session_id, caller)
            row = (await db.execute(newest_reply_query(session_id))).first()
        if row is None:
            return TurnStatus(active=False, status=IDLE)
        return TurnStatus(
            active=row.status == MessageStatus.STREAMING,
            message_id=row.message_id,
            status=row.status,
            started_at=row.created_at,
            chars_so_far=row.chars or 0,
        )


def newest_reply_query(session_id: str) -> Select[str, str, datetime, int]:
    """The session's newest assistant message: one backwards step on (session, seq)."""
    return (
        select(M.message_id, M.status, M.created_at, func.length(M.content).label("chars"))
        .where(M.session_id == session_id, M.role == Role.ASSISTANT)
        .order_by(M.seq.desc())
        .limit(1)
    )
