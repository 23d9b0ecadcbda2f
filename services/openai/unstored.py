"""`store: false`: a response that is not kept once it has ended.

Every turn is stored while it runs (that is what makes it stoppable, resumable and
safe from crashes); a response asked with `store: false` is then deleted as soon as
it has ended: its turn (the new input and the reply, as DELETE /api/messages/{id})
with the earlier items it appended, or its whole session when it started one. It
cannot be retrieved or gone on from afterwards, as with OpenAI. A stream dropped
before the end stops the reply (`on_disconnect: cancel`) and the deletion waits for
the turn to end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from models.auth import Caller
from services.branches import BranchService
from services.errors import ServiceError
from services.openai.imported import Imported
from services.sessions import SessionService
from services.turns.events import TurnEvent
from services.turns.runner import TurnRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UnstoredTurn:
    session_id: str
    user_message_id: str
    message_id: str
    # What the request stored before its turn (services/openai/imported.py): the
    # session it started, or the items it appended; they go instead, turn and all.
    imported: Imported | None


@dataclass
class Unstored:
    sessions: SessionService
    branches: BranchService
    runner: TurnRunner
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    async def forget(self, turn: UnstoredTurn, caller: Caller) -> None:
        """Delete the ended turn (or its session); a failure is logged, not raised:
        the response was answered."""
        try:
            if turn.imported is not None:
                await turn.imported.undo()
            else:
                await self.branches.delete(turn.user_message_id, caller)
        except ServiceError as exc:
            log.warning("response %s (store: false) not deleted: %s", turn.message_id, exc)

    def forget_after_end(self, turn: UnstoredTurn, caller: Caller) -> None:
        """forget() once the turn has ended (its stream was closed before the end)."""
        task = asyncio.create_task(self._after_end(turn, caller))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def after_stream(
        self, events: AsyncIterator[TurnEvent], imported: Imported | None, caller: Caller
    ) -> AsyncGenerator[TurnEvent, None]:
        """The turn's events; once they end or are dropped, its turn is forgotten
        (after the turn has ended)."""
        start: dict[str, Any] = {}
        try:
            async for event in events:
                start = start or event.data
                yield event
        finally:
            if (close := getattr(events, "aclose", None)) is not None:
                await close()
            if start:
                ids = (start["session_id"], start["user_message_id"], start["message_id"])
                self.forget_after_end(UnstoredTurn(*ids, imported), caller)

    async def _after_end(self, turn: UnstoredTurn, caller: Caller) -> None:
        live = self.runner.live.get(turn.message_id)
        if live is not None:
            await live.wait_finished()
        await self.forget(turn, caller)
