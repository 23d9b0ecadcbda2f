"""A chat request end to end: start the turn, or, when its Idempotency-Key says it
was sent before, serve the original turn instead (services/idempotency.py).

A repeated whole-reply request waits for the original turn and answers what it
answered (its error, if it failed); a repeated stream request follows the original
turn from its first event, like a resume: live when it is still generating, from the
stored text when it has ended. Neither stores a second message or calls the LLM.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from models.auth import Caller
from models.chat import ChatRequest, ChatResponse
from services.idempotency import IdempotencyClaim, Repeated, Replayable, claim
from services.turn import TurnService
from services.turn_events import TurnEvent
from services.turn_replay import TurnReplay
from services.turn_runner import TurnRunner

WHOLE_REPLY_SCOPE = "chat"
STREAM_SCOPE = "chat stream"


class ChatService:
    def __init__(self, turns: TurnService, runner: TurnRunner, replay: TurnReplay) -> None:
        self.turns = turns
        self.runner = runner
        self.replay = replay

    def _claim(
        self, scope: str, key: str | None, chat: ChatRequest, caller: Caller
    ) -> IdempotencyClaim | None:
        return claim(scope, key, chat, self.turns.settings.idempotency_ttl_hours, caller)

    async def complete(
        self, chat: ChatRequest, key: str | None, caller: Caller
    ) -> Replayable[ChatResponse]:
        """The whole reply of a new turn, or of the turn this key started."""
        claimed = self._claim(WHOLE_REPLY_SCOPE, key, chat, caller)
        try:
            turn = await self.turns.prepare(chat, caller, claimed)
        except Repeated as repeat:
            reply = await self.replay.original_reply(repeat.turn_id(), caller)
            return Replayable(reply, replayed=True)
        return Replayable(await self.runner.complete(turn))

    async def stream(
        self, chat: ChatRequest, key: str | None, caller: Caller
    ) -> Replayable[AsyncIterator[TurnEvent]]:
        """The events of a new turn, or of the turn this key started (from its start)."""
        claimed = self._claim(STREAM_SCOPE, key, chat, caller)
        try:
            turn = await self.turns.prepare(chat, caller, claimed)
        except Repeated as repeat:
            events = await self.replay.follow_from_start(repeat.turn_id(), caller)
            return Replayable(events, replayed=True)
        live = self.runner.start(turn)
        return Replayable(self.runner.follow(live, on_disconnect=chat.on_disconnect))
