"""The OpenAI-compatible protocol (vLLM, llama.cpp server, Ollama, TGI, SGLang, LM Studio)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from httpx_sse import EventSource, SSEError, aconnect_sse

from services.errors import LLMBadReply
from services.llm.base import (
    LLMClient,
    LLMReply,
    LLMRequest,
    StreamChunk,
    parse_json,
    raise_for_upstream_status,
    translate_transport_errors,
    usage_from,
)

DONE = "[DONE]"


@dataclass
class OpenAIClient(LLMClient):
    """POST /v1/chat/completions; the model comes from LLM_MODEL or /v1/models."""

    model: str = ""
    _model_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def complete(self, request: LLMRequest) -> LLMReply:
        body = await self._body(request, stream=False)
        with translate_transport_errors():
            response = await self.http.post(self._url, json=body, headers=self._headers)
        raise_for_upstream_status(response)
        return _reply_from(parse_json(response.text))

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamChunk]:
        body = await self._body(request, stream=True)
        with translate_transport_errors():
            async with aconnect_sse(
                self.http, "POST", self._url, json=body, headers=dict(self._headers)
            ) as source:
                if not source.response.is_success:
                    await source.response.aread()
                    raise_for_upstream_status(source.response)
                async for chunk in _chunks_until_done(source):
                    yield chunk

    async def _probe(self) -> str | None:
        listed = _first_model_id(await self._get_json("/v1/models"))
        return self.model or listed

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

    async def _body(self, request: LLMRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": await self.resolve_model(),
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature if request.do_sample else 0.0,
            "stream": stream,
        }
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = request.stop
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body


async def _chunks_until_done(source: EventSource) -> AsyncIterator[StreamChunk]:
    """Parse `data:` chunks until [DONE]; a stream that just ends is a failure."""
    try:
        async for event in source.aiter_sse():
            if event.data.strip() == DONE:
                return
            if event.data:
                yield _chunk_from(parse_json(event.data))
    except SSEError as exc:
        raise LLMBadReply("LLM server did not answer with an event stream") from exc
    raise LLMBadReply("LLM stream ended without [DONE]")


def _chunk_from(payload: Any) -> StreamChunk:
    if not isinstance(payload, dict):
        raise LLMBadReply("LLM stream chunk is not a JSON object")
    if "error" in payload:
        raise LLMBadReply(f"LLM server reported an error mid-stream: {payload['error']}"[:300])
    usage = usage_from(payload.get("usage"))
    choices = payload.get("choices") or []
    if not choices:
        return StreamChunk(usage=usage)
    choice = choices[0] if isinstance(choices[0], dict) else {}
    delta = choice.get("delta") or {}
    text = delta.get("content") if isinstance(delta, dict) else None
    return StreamChunk(
        text=text if isinstance(text, str) else "",
        finish_reason=choice.get("finish_reason"),
        usage=usage,
    )


def _reply_from(payload: Any) -> LLMReply:
    try:
        choice = payload["choices"][0]
        content = choice["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMBadReply("LLM reply has no choices[0].message.content") from exc
    if not isinstance(content, str):
        raise LLMBadReply("LLM reply content is not a string")
    return LLMReply(
        content=content,
        finish_reason=choice.get("finish_reason") or "stop",
        usage=usage_from(payload.get("usage")),
    )


def _first_model_id(payload: Any) -> str:
    try:
        return str(payload["data"][0]["id"])
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMBadReply("LLM server lists no models at /v1/models") from exc
