"""Resume: the events of a reply after a given id, from memory or from the database.

A turn generating in this process is followed from its live event list (exact
events). Otherwise (finished, or owned by another worker) the stored text is
replayed: the delta lengths stored with each checkpoint map the client's last id
to a text offset, the rest of the stored text goes out as one delta carrying the
id of the newest stored delta. A turn still streaming elsewhere is then followed
live, token by token, with the events its owner sends over the bus on PostgreSQL
(services/turns/remote.py), or, on SQLite, by re-reading its checkpoints until it
ends. Ids stay monotonic and no text is sent twice or lost, whichever worker answers.

A resume that follows another worker's reply ends, cleanly and without a terminal
event, once this process stops (services/drain.py): the reply goes on elsewhere and
the client resumes it from another instance, rather than holding this one open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from models.auth import Caller
from models.chat import ChatResponse
from models.message import MessageStatus, Role, messages_table
from models.session import sessions_table
from services.drain import Drain
from services.errors import MessageNotFound, RepeatedFailure, TurnInterrupted
from services.sessions import SessionService
from services.storage import Database
from services.turns.events import TurnEvent, done_payload, start_payload, tool_call_payload
from services.turns.remote import next_events
from services.turns.runner import TurnRunner
from services.turns.status import newest_reply_query

M = messages_table.c
S = sessions_table.c
FOLLOW_POLL_SECONDS = 0.1
FOLLOW_FALLBACK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class StoredReply:
    """An assistant message as stored, with what its events need."""

    message_id: str
    session_id: str
    user_message_id: str
    status: MessageStatus
    content: str
    delta_lengths: list[int]
    finish_reason: str | None
    token_usage: dict[str, Any] | None
    error: str | None
    created_at: datetime
    prompt_tokens: int | None  # from its context plan
    model: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    echo: dict[str, Any] | None = None  # what its /v1 request asked to have echoed

    @property
    def last_delta_id(self) -> int:
        return len(self.delta_lengths) + 1

    @property
    def terminal_id(self) -> int:
        """After the deltas and the `tool_call` events (sent once the text has ended)."""
        return self.last_delta_id + len(self.tool_calls or ()) + 1

    @property
    def ended(self) -> bool:
        return self.status != MessageStatus.STREAMING

    def events_after(self, after: int) -> list[TurnEvent]:
        """The stored events past `after`, the unsent text coalesced into one delta."""
        events = []
        if after < 1:
            ids = (self.session_id, self.user_message_id, self.message_id)
            events.append(TurnEvent(1, "start", start_payload(*ids)))
        offset = sum(self.delta_lengths[: max(after - 1, 0)])
        if after < self.last_delta_id and offset < len(self.content):
            rest = self.content[offset:]
            events.append(TurnEvent(self.last_delta_id, "delta", {"content": rest}))
        for index, call in enumerate(self.tool_calls or ()):
            if after < (place := self.last_delta_id + 1 + index):
                events.append(TurnEvent(place, "tool_call", tool_call_payload(call, index)))
        if self.ended and after < self.terminal_id:
            events.append(TurnEvent(self.terminal_id, *self._terminal()))
        return events

    def chat_response(self) -> ChatResponse:
        """The whole-reply answer of a reply that ended well (complete or cancelled);
        for one that failed, the error it ended with."""
        if self.status not in (MessageStatus.COMPLETE, MessageStatus.CANCELLED):
            raise RepeatedFailure(self.error or TurnInterrupted.code)
        return ChatResponse.of_reply(self.user_message_id, self, self.prompt_tokens)

    def _terminal(self) -> tuple[str, dict[str, Any]]:
        if self.status in (MessageStatus.COMPLETE, MessageStatus.CANCELLED):
            payload = done_payload(
                self.message_id, self.finish_reason, self.token_usage, self.prompt_tokens
            )
            return "done", payload
        code, message = self.failure() or ("internal_error", "")
        return "error", {"code": code, "message": message}

    def failure(self) -> tuple[str, str] | None:
        """The code and message a reply that did not end well ended with; else None."""
        if self.status == MessageStatus.INTERRUPTED:
            return TurnInterrupted.code, TurnInterrupted().message
        if self.status != MessageStatus.FAILED:
            return None
        code = self.error or "internal_error"
        return code, f"the reply failed ({code}); its text is kept"


class TurnReplay:
    def __init__(
        self, database: Database, sessions: SessionService, runner: TurnRunner, drain: Drain
    ) -> None:
        self.database = database
        self.sessions = sessions
        self.runner = runner
        self.drain = drain

    async def resume(
        self, message_id: str, after: int, caller: Caller
    ) -> AsyncIterator[TurnEvent] | None:
        """The events after `after`; None when the reply ended and all were sent.

        MessageNotFound for an unknown message, a user message, a gone session or
        another key's (checked before a live turn is followed too).
        """
        return await self._events_after(message_id, after, caller, until_stopping=True)

    async def _events_after(
        self, message_id: str, after: int, caller: Caller, until_stopping: bool
    ) -> AsyncIterator[TurnEvent] | None:
        stored = await self.load(message_id, caller)
        if (live := self.runner.live.get(message_id)) is not None:
            return self.runner.follow(live, after)
        if stored.ended and after >= stored.terminal_id:
            return None
        return self._replay(stored, after, caller, until_stopping)

    async def resume_newest(
        self, session_id: str | None, after: int, caller: Caller
    ) -> AsyncIterator[TurnEvent] | None:
        """resume() for the session's newest reply: an EventSource reconnecting to
        the URL that sent a message must not send it again. None without a session
        or a reply."""
        if session_id is None:
            return None
        async with self.database.read() as db:
            await self.sessions.require_visible(db, session_id, caller)
            newest = (await db.execute(newest_reply_query(session_id))).first()
        return None if newest is None else await self.resume(newest.message_id, after, caller)

    async def follow_from_start(self, message_id: str, caller: Caller) -> AsyncIterator[TurnEvent]:
        """Every event of a turn, from `start` to its end, live or stored (a repeated
        stream request). MessageNotFound now, before a stream can start, when the
        turn's session was deleted since. It waits for the end: the repeat answers
        what the original turn answered."""
        events = await self._events_after(message_id, 0, caller, until_stopping=False)
        assert events is not None  # from id 0 there is always a terminal event left
        return events

    async def original_reply(self, message_id: str, caller: Caller) -> ChatResponse:
        """A repeated whole-reply request: wait for the original turn's end (here or in
        another worker) and answer what it answered."""
        async for _ in await self.follow_from_start(message_id, caller):
            pass
        return (await self.load(message_id, caller)).chat_response()

    async def _replay(
        self, stored: StoredReply, after: int, caller: Caller, until_stopping: bool
    ) -> AsyncIterator[TurnEvent]:
        if self.runner.remote.available:
            async for event in self._follow_owner(stored, after, caller, until_stopping):
                yield event
            return
        while True:
            for event in stored.events_after(after):
                after = event.id
                yield event
            if stored.ended or (until_stopping and self.drain.draining):
                return
            await asyncio.sleep(FOLLOW_POLL_SECONDS)
            stored = await self.load(stored.message_id, caller)

    async def _follow_owner(
        self, stored: StoredReply, after: int, caller: Caller, until_stopping: bool
    ) -> AsyncIterator[TurnEvent]:
        """The stored part, then the owner's live events; on a silence of
        FOLLOW_FALLBACK_SECONDS the stored reply is read again (an owner that died,
        a notification lost), so the follow always ends."""
        with self.runner.remote.watch(stored.message_id) as queue:
            stored = await self.load(stored.message_id, caller)  # read once subscribed
            for event in stored.events_after(after):
                after = event.id
                yield event
            if stored.ended:
                return
            await self.runner.remote.ask_to_follow(stored.message_id, after)
            async for batch in next_events(queue, FOLLOW_FALLBACK_SECONDS):
                if not batch:
                    stored = await self.load(stored.message_id, caller)
                    batch = stored.events_after(after)
                for event in batch:
                    if event.id > after:
                        after = event.id
                        yield event
                    if event.is_terminal:
                        return
                if until_stopping and self.drain.draining:
                    return

    async def load(self, message_id: str, caller: Caller) -> StoredReply:
        """The stored reply; MessageNotFound unless the caller may see its session."""
        query = self.sessions.visible_message(message_id, caller, *messages_table.c).where(
            M.role == Role.ASSISTANT
        )
        async with self.database.read() as db:
            row = (await db.execute(query)).first()
        if row is None:
            raise MessageNotFound(message_id)
        lengths = row.delta_lengths
        if lengths is None:  # stored before delta lengths were kept: one delta
            lengths = [len(row.content)] if row.content else []
        return StoredReply(
            message_id=row.message_id,
            session_id=row.session_id,
            user_message_id=row.parent_id,  # a reply's parent is the message it answers
            status=MessageStatus(row.status),
            content=row.content,
            delta_lengths=lengths,
            finish_reason=row.finish_reason,
            token_usage=row.token_usage,
            prompt_tokens=(row.context_plan or {}).get("prompt_tokens"),
            error=row.error,
            created_at=row.created_at,
            model=row.model,
            tool_calls=row.tool_calls,
            echo=row.echo,
        )
