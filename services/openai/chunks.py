"""A turn's reply in OpenAI's chat completion shapes: the whole `chat.completion`,
and the `chat.completion.chunk` objects a stream sends.

Our finish reasons that OpenAI's clients do not know (a stopped reply's `cancelled`)
go out as `stop`: typed clients in other languages reject unknown values, and the
stored message keeps the exact one (GET /api/sessions/{id}/messages).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from models.chat import ChatResponse
from models.openai import (
    AssistantMessage,
    ChatCompletion,
    CompletionChoice,
    CompletionUsage,
)
from services.turns.events import TurnEvent

OPENAI_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter"})
ID_PREFIX = "chatcmpl-"


def finish_reason(ours: str | None) -> str:
    return ours if ours in OPENAI_FINISH_REASONS else "stop"


def usage_of(token_usage: dict[str, Any] | None) -> CompletionUsage | None:
    if not token_usage:
        return None
    return CompletionUsage(
        prompt_tokens=token_usage["prompt_tokens"],
        completion_tokens=token_usage["completion_tokens"],
        total_tokens=token_usage["total_tokens"],
    )


def completion_of(reply: ChatResponse, model: str) -> ChatCompletion:
    """The whole reply; `model` is the one that answered when its server named it."""
    return ChatCompletion(
        id=ID_PREFIX + reply.message_id,
        created=int(reply.created_at.timestamp()),
        model=reply.model or model,
        choices=[
            CompletionChoice(
                message=AssistantMessage(
                    content=reply.content if reply.content or not reply.tool_calls else None,
                    tool_calls=reply.tool_calls,
                ),
                finish_reason=finish_reason(reply.finish_reason),
            )
        ],
        usage=usage_of(reply.token_usage.model_dump()),
        session_id=reply.session_id,
        message_id=reply.message_id,
    )


@dataclass
class ChunkStream:
    """The chunks of one streamed turn, built from its events."""

    model: str
    include_usage: bool
    created: int = 0
    chunk_id: str = ""

    async def chunks(
        self, events: AsyncIterator[TurnEvent]
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Each event's chunk(s); an `error` event becomes OpenAI's `{"error": ...}`
        object, which the SDKs raise as an APIError. Closing this closes `events`
        (a follower detaching; the turn goes on, or stops with on_disconnect=cancel)."""
        self.created = int(time.time())
        try:
            async for event in events:
                for chunk in self._of(event):
                    yield chunk
        finally:
            if (close := getattr(events, "aclose", None)) is not None:
                await close()

    def _of(self, event: TurnEvent) -> list[dict[str, Any]]:
        data = event.data
        if event.type == "start":
            self.chunk_id = ID_PREFIX + data["message_id"]
            return [self._chunk({"role": "assistant", "content": ""}, None)]
        if event.type == "delta":
            return [self._chunk({"content": data["content"]}, None)]
        if event.type == "tool_call":
            call = {"index": data["index"], **data["tool_call"]}
            return [self._chunk({"tool_calls": [call]}, None)]
        if event.type == "done":
            last = [self._chunk({}, finish_reason(data.get("finish_reason")))]
            if self.include_usage:
                usage = usage_of(data.get("token_usage"))
                last.append(self._usage_chunk(usage.model_dump() if usage else None))
            return last
        if event.type == "error":
            error = {"message": data["message"], "type": "server_error", "param": None}
            return [{"error": error | {"code": data["code"]}}]
        return []

    def _chunk(self, delta: dict[str, Any], finished: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finished, "logprobs": None}
        return self._envelope([choice]) | ({"usage": None} if self.include_usage else {})

    def _usage_chunk(self, usage: dict[str, Any] | None) -> dict[str, Any]:
        return self._envelope([]) | {"usage": usage}

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.chunk_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
