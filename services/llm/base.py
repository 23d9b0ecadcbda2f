"""The interface the turn logic talks to, and the translation of transport errors.

Every httpx exception is turned into one of our LLMError classes here, at the
boundary, so nothing above this package knows about httpx:

    connect refused / connect timeout  -> LLMUnavailable (503)
    no bytes within the read timeout   -> LLMTimeout     (504)
    connection closed before an answer -> LLMNoResponse  (502, retried)
    connection broken mid-reply        -> LLMBadReply    (502)
    429 / 503 status                   -> LLMOverloaded  (503, Retry-After kept)
    other non-2xx status               -> LLMUpstreamError (502, names the status)
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import anyio
import httpx
from httpx_sse import ServerSentEvent as SSEvent
from httpx_sse import SSEError, aconnect_sse

from services.errors import ContextTooLong
from services.llm.errors import (
    LLMBadReply,
    LLMError,
    LLMNoResponse,
    LLMOverloaded,
    LLMTimeout,
    LLMUnavailable,
    LLMUpstreamError,
)
from services.upstream_timeout import answer_within

UPSTREAM_DETAIL_CHARS = 200
DONE = "[DONE]"
# After [DONE], how long to wait for the response's own end (normally already in
# the same packet) so that its connection goes back to the pool instead of closing.
DRAIN_SECONDS = 0.1
CONTEXT_TOO_LONG_MARKERS = ("context_length_exceeded", "maximum context length", "context window")


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """What the turn asks of the model; protocol classes map it to their wire format."""

    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float
    top_p: float | None = None
    do_sample: bool = True
    stop: list[str] | None = None
    model: str | None = None  # a profile's or SUMMARY_MODEL; None: the client's own
    tools: list[dict[str, Any]] | None = None  # function tools, relayed as given
    tool_choice: Any = None


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call as a stream brings it: the call's index in the reply,
    its id and name (in its first piece), and a fragment of its arguments' JSON."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One piece of a streamed reply; the last one carries finish_reason/usage."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    server: str | None = None  # set on the pool's marker before each server it tries
    model: str | None = None  # the model the server says answered (OpenAI's chunks)
    tool_calls: tuple[ToolCallDelta, ...] = ()


@dataclass(slots=True)
class ProbeResult:
    ok: bool
    model: str | None
    latency_ms: float
    error: str | None = None


class Streams(Protocol):
    """A client or a pool: what background work (summaries, titles) is asked of."""

    def stream(self, request: LLMRequest) -> AsyncGenerator[StreamChunk, None]: ...


@dataclass
class LLMClient(ABC):
    """A client for one LLM server; shares the app's one httpx.AsyncClient."""

    http: httpx.AsyncClient
    base_url: str
    api_key: str = ""
    health_timeout: float = 2.0
    _headers: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.api_key:
            self._headers["Authorization"] = f"Bearer {self.api_key}"

    @abstractmethod
    def stream(self, request: LLMRequest) -> AsyncGenerator[StreamChunk, None]:
        """Ask for a streamed reply; raises LLMError on any failure, even mid-stream."""

    @abstractmethod
    async def _probe(self) -> str | None:
        """Check the server answers; return the model name when known."""

    async def models(self) -> list[str]:
        """The models this server serves (GET /v1/models lists them); LLMError when
        it does not answer."""
        model = await self._probe()
        return [model] if model else []

    async def probe(self) -> ProbeResult:
        """Health check: never raises, reports what went wrong instead."""
        started = time.perf_counter()
        try:
            model = await self._probe()
        except LLMError as exc:
            return ProbeResult(False, None, _elapsed_ms(started), exc.message)
        return ProbeResult(True, model, _elapsed_ms(started))

    async def _sse_events(self, url: str, body: dict[str, Any]) -> AsyncIterator[SSEvent]:
        """POST a JSON body and yield the SSE events of the reply, errors translated.

        The last one yielded is `[DONE]` when the server sent it (see is_done); the
        caller goes on iterating to let the response end, which keeps its connection
        for the next turn. Closing a response before its end closes the connection.
        """
        answered = False
        with translate_transport_errors(lambda: answered):
            # a copy: aconnect_sse adds its Accept/Cache-Control to the dict it is given
            async with aconnect_sse(
                self.http, "POST", url, json=body, headers=dict(self._headers)
            ) as source:
                answered = True  # the status line and headers have arrived
                if not source.response.is_success:
                    await source.response.aread()
                    raise_for_upstream_status(source.response)
                try:
                    events = source.aiter_sse()
                    async for event in events:
                        yield event
                        if is_done(event):
                            with anyio.move_on_after(DRAIN_SECONDS):
                                async for _ in events:
                                    pass  # after [DONE]: nothing more is a reply
                            return
                except SSEError as exc:
                    raise LLMBadReply("LLM server did not answer with an event stream") from exc

    async def _get_json(self, path: str) -> Any:
        # A GET changes nothing: whatever broke, asking again is safe.
        with translate_transport_errors(answered=lambda: False):
            response = await self.http.get(
                self.base_url + path,
                headers=self._headers,
                timeout=answer_within(self.http, self.health_timeout),
            )
        raise_for_upstream_status(response)
        return parse_json(response.text)


def is_done(event: SSEvent) -> bool:
    """The `data: [DONE]` that ends a stream, in both protocols."""
    return event.data.strip() == DONE


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


@contextmanager
def translate_transport_errors(answered: Callable[[], bool]) -> Iterator[None]:
    """Turn httpx transport failures into our LLM errors (see module docstring).

    `answered()` says whether the response had begun: a connection that closes (or
    is reset, or refuses our bytes) before that is LLMNoResponse, which is retried.
    """
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise LLMUnavailable() from exc
    except httpx.TimeoutException as exc:
        raise LLMTimeout("LLM server did not answer in time") from exc
    except httpx.TransportError as exc:
        if not answered():
            raise LLMNoResponse() from exc
        raise LLMBadReply("connection to the LLM server broke during the reply") from exc


def raise_for_upstream_status(response: httpx.Response) -> None:
    """Raise LLMUpstreamError naming the status; the body must already be read.

    A 400 saying the prompt is over the model's context (llama.cpp, vLLM and
    OpenAI word it differently) becomes ContextTooLong: the caller can act on it.
    """
    if response.is_success:
        return
    detail = upstream_error_text(response.text)
    if response.status_code == 400 and _says_context_too_long(response.text):
        raise ContextTooLong(f"the prompt is longer than the model's context: {detail}")
    if response.status_code in (429, 503):
        retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        raise LLMOverloaded(response.status_code, detail, retry_after)
    raise LLMUpstreamError(response.status_code, detail)


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent
    or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


def _says_context_too_long(body: str) -> bool:
    text = body.lower()
    return any(marker in text for marker in CONTEXT_TOO_LONG_MARKERS)


def upstream_error_text(body: str) -> str:
    """The upstream's own error message when it sent one, shortened."""
    try:
        payload = json.loads(body)
    except ValueError:
        return body.strip()[:UPSTREAM_DETAIL_CHARS]
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail", payload))
        if isinstance(error, dict):
            error = error.get("message", error)
        return str(error)[:UPSTREAM_DETAIL_CHARS]
    return str(payload)[:UPSTREAM_DETAIL_CHARS]


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise LLMBadReply("LLM server sent a reply that is not valid JSON") from exc


def usage_from(payload: Any) -> Usage | None:
    """Read an OpenAI-style usage object, or None when absent or malformed."""
    if not isinstance(payload, dict):
        return None
    prompt, completion = payload.get("prompt_tokens"), payload.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return Usage(prompt, completion)
    return None
