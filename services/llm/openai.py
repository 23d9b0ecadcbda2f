"""The OpenAI-compatible protocol (vLLM, llama.cpp server, Ollama, TGI, SGLang, LM Studio).

Every turn, whole or streamed, is a streamed request upstream: closing it is how
a stop makes the server stop decoding.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from models.text import storable
from services.llm.base import (
    LLMClient,
    LLMRequest,
    StreamChunk,
    is_done,
    parse_json,
    usage_from,
)
from services.llm.errors import LLMBadReply, LLMTruncated
from services.llm.tool_calls import tool_call_deltas

NO_FINISH_REASON = "LLM reply ended without a finish_reason: it is incomplete"


@dataclass
class OpenAIClient(LLMClient):
    """POST /v1/chat/completions; the model comes from LLM_MODEL or /v1/models."""

    model: str = ""
    _model_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamChunk, None]:
        """Parse `data:` chunks until [DONE]; a stream that just ends is a failure.

        So is a [DONE] that never came with a finish_reason: llama.cpp's server ends
        a stream cut short by another request (or by a prompt over its context)
        exactly like that, and the text so far is not a whole reply.
        """
        body = await self._body(request)
        finished = done = False
        async for event in self._sse_events(self._url, body):
            if is_done(event):
                if not finished:
                    raise LLMTruncated(NO_FINISH_REASON)
                done = True
                continue  # the response ends next; its connection stays open
            if event.data:
                chunk = _chunk_from(parse_json(event.data))
                finished = finished or chunk.finish_reason is not None
                yield chunk
        if not done:
            raise LLMBadReply("LLM stream ended without [DONE]")

    async def _probe(self) -> str | None:
        listed = _first_model_id(await self._get_json("/v1/models"))
        return self.model or listed

    async def models(self) -> list[str]:
        listed = _model_ids(await self._get_json("/v1/models"))
        return [self.model, *listed] if self.model and self.model not in listed else listed

    async def resolve_model(self) -> str:
        """LLM_MODEL, else the first model the server lists (asked once, then cached)."""
        if self.model:
            return self.model
        async with self._model_lock:
            if not self.model:
                self.model = _first_model_id(await self._get_json("/v1/models"))
        return self.model

    @property
    def _url(self) -> str:
        return f"{self.base_url}/v1/chat/completions"

    async def _body(self, request: LLMRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model or await self.resolve_model(),
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature if request.do_sample else 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = request.stop
        if request.tools:
            body["tools"] = request.tools
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
        return body


def _chunk_from(payload: Any) -> StreamChunk:
    if not isinstance(payload, dict):
        raise LLMBadReply("LLM stream chunk is not a JSON object")
    if "error" in payload:
        raise LLMBadReply(f"LLM server reported an error mid-stream: {payload['error']}"[:300])
    usage = usage_from(payload.get("usage"))
    named = payload.get("model")
    model = named if isinstance(named, str) else None
    choices = payload.get("choices") or []
    if not choices:
        return StreamChunk(usage=usage, model=model)
    choice = choices[0] if isinstance(choices[0], dict) else {}
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        delta = {}
    text = delta.get("content")
    pieces = delta.get("tool_calls")
    return StreamChunk(
        text=storable(text) if isinstance(text, str) else "",
        finish_reason=choice.get("finish_reason"),
        usage=usage,
        model=model,
        tool_calls=tool_call_deltas(pieces) if pieces else (),
    )


def _model_ids(payload: Any) -> list[str]:
    entries = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        raise LLMBadReply("LLM server's /v1/models is not a model list")
    return [str(entry["id"]) for entry in entries if isinstance(entry, dict) and "id" in entry]


def _first_model_id(payload: Any) -> str:
    try:
        return str(payload["data"][0]["id"])
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMBadReply("LLM server lists no models at /v1/models") from exc
