"""Stop requests, kept in the database so that a stop reaching any worker is seen by
the one generating the turn (models/turn_stop.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.message import MessageStatus, Role, messages_table
from models.session import sessions_table
from models.turn_stop import turn_stops_table
from models.types import utcnow
from services.errors import MessageNotFound
from services.sessions import SessionService
from services.storage import read_connection, write_transaction
from services.turn_store import active_turn_query

M = messages_table.c
S = sessions_table.c
STOPS = turn_stops_table.c


@dataclass(frozen=True, slots=True)
class ReplyState:
    message_id: str
    status: MessageStatus
    chars: int


class TurnStops:
    def __init__(self, engine: AsyncEngine, sessions: SessionService) -> None:
        self.engine = engine
        self.sessions = sessions

    async def active_turn(self, session_id: str) -> str | None:
        """The message the session is generating, if any; SessionNotFound if none such."""
        async with read_connection(self.engine) as db:
            await self.sessions.require_alive(db, session_id)
            active = (await db.execute(active_turn_query(session_id))).first()
        return None if active is None else str(active.message_id)

    async def request(self, message_id: str) -> ReplyState:
        """Record a stop for a reply still streaming; the reply's state either way."""
        async with write_transaction(self.engine) as db:
            state = await self._reply_state(db, message_id)
            if state.status != MessageStatus.STREAMING:
                return state
            recorded = select(STOPS.message_id).where(STOPS.message_id == message_id)
            if (await db.execute(recorded)).first() is None:
                await db.execute(
                    insert(turn_stops_table).values(message_id=message_id, requested_at=utcnow())
                )
        return state

    async def state(self, message_id: str) -> ReplyState:
        async with read_connection(self.engine) as db:
            return await self._reply_state(db, message_id)

    async def requested(self) -> set[str]:
        """Every turn some worker was asked to stop (a small table, usually empty)."""
        async with read_connection(self.engine) as db:
            return set((await db.execute(select(STOPS.message_id))).scalars())

    async def _reply_state(self, db: AsyncConnection, message_id: str) -> ReplyState:
        """An assistant reply of a live session, else MessageNotFound."""
        query = (
            select(M.status, func.length(M.content).label("chars"))
            .join(sessions_table, S.session_id == M.session_id)
            .where(
                M.message_id == message_id,
                M.role == Role.ASSISTANT,
                self.sessions.alive(utcnow()),
            )
        )
        row = (await db.execute(query)).first()
        if row is None:
            raise MessageNotFound(message_id)
        return ReplyState(message_id, MessageStatus(row.status), row.chars or 0)
