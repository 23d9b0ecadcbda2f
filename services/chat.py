"""A chat request end to end: start the turn, or, when its Idempotency-Key says it
was sent before, serve the original turn instead (services/idempotency.py).

A repeated whole-reply request waits for the original turn and answers what it
answered (its error, if it failed); a repeated stream request follows the original
turn from its first event, like a resume: live when it is still generating, from the
stored text when it has ended. Neither stores a second message or calls the LLM.
Regenerates go the same way, under their own scopes (a key is one request on one
route).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from models.auth import Caller
from models.chat import ChatRequest, ChatResponse, Regeneration
from services.idempotency import Repeated, Replayable, claim
from services.turns.admission import started
from services.turns.events import TurnEvent
from services.turns.prepare import PreparedTurn
from services.turns.replay import TurnReplay
from services.turns.runner import TurnRunner
from services.turns.turn import TurnService

WHOLE_REPLY_SCOPE = "chat"
STREAM_SCOPE = "chat stream"
REGENERATE_SCOPES = {WHOLE_REPLY_SCOPE: "regenerate", STREAM_SCOPE: "regenerate stream"}


class ChatService:
    def __init__(self, turns: TurnService, runner: TurnRunner, replay: TurnReplay) -> None:
        self.turns = turns
        self.runner = runner
        self.replay = replay

    async def _prepare(
        self, scope: str, ask: ChatRequest | Regeneration, key: str | None, caller: Caller
    ) -> PreparedTurn | str:
        """The new turn, stored; or, when the key already began one, its message id."""
        if isinstance(ask, Regeneration):
            scope = REGENERATE_SCOPES[scope]
        claimed = claim(scope, key, ask, self.turns.settings.idempotency_ttl_hours, caller)
        try:
            return await self.turns.prepare(ask, caller, claimed)
        except Repeated as repeat:
            started()  # it follows a turn that runs already: its start slot goes on
            return repeat.turn_id()

    async def complete(
        self, chat: ChatRequest | Regeneration, key: str | None, caller: Caller
    ) -> Replayable[ChatResponse]:
        """The whole reply of a new turn (a chat or a regenerate), or of the turn this
        key started."""
        turn = await self._prepare(WHOLE_REPLY_SCOPE, chat, key, caller)
        if isinstance(turn, str):
            return Replayable(await self.replay.original_reply(turn, caller), replayed=True)
        return Replayable(await self.runner.complete(turn))

    async def stream(
        self, chat: ChatRequest | Regeneration, key: str | None, caller: Caller
    ) -> Replayable[AsyncIterator[TurnEvent]]:
        """The events of a new turn, or of the turn this key started (from its start)."""
        turn = await self._prepare(STREAM_SCOPE, chat, key, caller)
        if isinstance(turn, str):
            events = await self.replay.follow_from_start(turn, caller)
            return Replayable(events, replayed=True)
        live = self.runner.start(turn)
        return Replayable(self.runner.follow(live, on_disconnect=chat.on_disconnect))
