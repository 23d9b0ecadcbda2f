"""Stop requests, kept in the database so that a stop reaching any worker is seen by
the one generating the turn (models/turn_stop.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, Row, Select, func, insert, select

from models.auth import Caller
from models.message import MessageStatus, Role, messages_table
from models.session import sessions_table
from models.turn_stop import turn_stops_table
from models.types import utcnow
from services.errors import MessageNotFound
from services.sessions import SessionService, visible_message
from services.storage import Database
from services.turns.placement import ACTIVE_TURN

M = messages_table.c
S = sessions_table.c
STOPS = turn_stops_table.c


@dataclass(frozen=True, slots=True)
class ReplyState:
    message_id: str
    status: MessageStatus
    chars: int


class TurnStops:
    def __init__(self, database: Database, sessions: SessionService) -> None:
        self.database = database
        self.sessions = sessions

    async def active_turn(self, session_id: str, caller: Caller) -> str | None:
        """The message the session is generating, if any; SessionNotFound if none such
        (or not the caller's)."""
        async with self.database.read() as db:
            await self.sessions.require_visible(db, session_id, caller)
            active = (await db.execute(ACTIVE_TURN, {"t_session": session_id})).first()
        return None if active is None else str(active.message_id)

    async def request(self, message_id: str, caller: Caller) -> ReplyState:
        """Record a stop for a reply still streaming; the reply's state either way.
        MessageNotFound for a reply of another key's session."""
        visible = self.sessions.visible(caller, utcnow())
        return await self.database.write(self._request, message_id, visible)

    def _request(self, db: Connection, message_id: str, visible: ColumnElement[bool]) -> ReplyState:
        row = db.execute(self._reply_state_query(message_id, visible)).first()
        state = _reply_state(message_id, row)
        if state.status != MessageStatus.STREAMING:
            return state
        recorded = select(STOPS.message_id).where(STOPS.message_id == message_id)
        if db.execute(recorded).first() is None:
            stop = {"message_id": message_id, "requested_at": utcnow()}
            db.execute(insert(turn_stops_table).values(stop))
        return state

    async def state(self, message_id: str) -> ReplyState:
        """The reply's state now (after request() has checked the caller may see it)."""
        alive = self.sessions.alive(utcnow())
        async with self.database.read() as db:
            row = (await db.execute(self._reply_state_query(message_id, alive))).first()
        return _reply_state(message_id, row)

    async def requested(self) -> set[str]:
        """Every turn some worker was asked to stop (a small table, usually empty)."""
        async with self.database.read() as db:
            return set((await db.execute(select(STOPS.message_id))).scalars())

    def _reply_state_query(
        self, message_id: str, session_condition: ColumnElement[bool]
    ) -> Select[tuple[str, int]]:
        """The status and length of an assistant reply of a session meeting the condition."""
        chars = func.length(M.content).label("chars")
        return visible_message(message_id, session_condition, M.status, chars).where(
            M.role == Role.ASSISTANT
        )


def _reply_state(message_id: str, row: Row[tuple[str, int]] | None) -> ReplyState:
    """MessageNotFound when the query found no such reply."""
    if row is None:
        raise MessageNotFound(message_id)
    return ReplyState(message_id, MessageStatus(row.status), row.chars or 0)
