"""The in-house `simple` protocol of the seed's midm_LLM_serving.

Every turn, whole or streamed, is asked of POST {url}/chat/stream (so that a stop can
end it) with {messages, max_new_tokens, temperature, do_sample} (plus top_p, stop,
tools and tool_choice when given), answering SSE. Each `data:` is either JSON — an object
with the text under `token`, `content` or `text` (optional `finish_reason`, `usage`),
or a JSON string — or plain text used as is. The stream ends at `data: [DONE]` or
when the server closes it; both are a good end. Health: GET {url}/health, any 2xx.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from models.text import storable
from services.llm.base import (
    LLMClient,
    LLMRequest,
    StreamChunk,
    is_done,
    usage_from,
)

CHUNK_KEYS = ("token", "content", "text")


@dataclass
class SimpleClient(LLMClient):
    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamChunk, None]:
        async for event in self._sse_events(f"{self.base_url}/chat/stream", _body(request)):
            if not is_done(event):  # after [DONE] the response ends; its connection stays
                yield _chunk_from(event.data)
        yield StreamChunk(finish_reason="stop")

    async def _probe(self) -> str | None:
        await self._get_json("/health")
        return None


def _body(request: LLMRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": request.messages,
        "max_new_tokens": request.max_tokens,
        "temperature": request.temperature,
        "do_sample": request.do_sample,
    }
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = request.stop
    if request.tools:  # relayed; this protocol's replies are text only
        body["tools"] = request.tools
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
    return body


def _chunk_from(data: str) -> StreamChunk:
    try:
        payload = json.loads(data)
    except ValueError:
        return StreamChunk(text=storable(data))
    if isinstance(payload, (int, float)) or payload is None:
        return StreamChunk(text=storable(data))
    text = _first_text(payload, CHUNK_KEYS)
    if text is None:
        return StreamChunk(finish_reason=_finish_reason(payload), usage=_usage(payload))
    return StreamChunk(storable(text), _finish_reason(payload), _usage(payload))


def _first_text(payload: Any, keys: tuple[str, ...]) -> str | None:
    if isinstance(payload, str):
        return payload
    if isinstance(payload, dict):
        for key in keys:
            if isinstance(payload.get(key), str):
                return str(payload[key])
    return None


def _finish_reason(payload: Any) -> str | None:
    reason = payload.get("finish_reason") if isinstance(payload, dict) else None
    return reason if isinstance(reason, str) else None


def _usage(payload: Any) -> Any:
    return usage_from(payload.get("usage")) if isinstance(payload, dict) else None
