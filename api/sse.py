"""Server-Sent Events: the response every streaming route answers with, and its framing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.turns.events import TurnEvent

STREAM_EXAMPLE = (
    'id: 1\nevent: start\ndata: {"type": "start", "session_id": "3f2b...", '
    '"user_message_id": "1a2b...", "message_id": "9c1d..."}\n\n'
    'id: 2\nevent: delta\ndata: {"type": "delta", "content": "Hello"}\n\n'
    'id: 3\nevent: delta\ndata: {"type": "delta", "content": "!"}\n\n'
    'id: 4\nevent: done\ndata: {"type": "done", "message_id": "9c1d...", '
    '"finish_reason": "stop", "token_usage": {"prompt_tokens": 12, '
    '"completion_tokens": 2, "total_tokens": 14, "estimated": false}, '
    '"prompt_tokens": 12}\n\n'
)
STREAM_DOC: dict[int | str, Any] = {
    200: {
        "description": (
            "text/event-stream: `start`, one `delta` per upstream chunk, then `done` or "
            "`error` ({code, message}). `id` is the per-turn sequence number, for "
            "resuming. Comment lines are keep-alives."
        ),
        "content": {"text/event-stream": {"example": STREAM_EXAMPLE}},
    }
}


NOTHING_LEFT: dict[int | str, Any] = {
    204: {
        "description": "The reply ended and every event after the given id was sent "
        "(204 also tells a browser EventSource to stop reconnecting)"
    }
}


KEEP_ALIVE = b": keep-alive\r\n"
"""A bare comment line with no blank line after it. A blank line after a comment is
legal SSE, but clients such as httpx-sse (issue #35) then dispatch a phantom empty
event once an `id:` has been seen; without it there is nothing to dispatch anywhere."""
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),  # nginx: pass every event on at once
]


def frame(event: TurnEvent) -> bytes:
    """One event on the wire. json.dumps escapes CR and LF, so one `data:` line holds
    it whole."""
    data = json.dumps({"type": event.type, **event.data}, ensure_ascii=False)
    return f"id: {event.id}\r\nevent: {event.type}\r\ndata: {data}\r\n\r\n".encode()


class EventStream(Response):
    """A turn's events as Server-Sent Events, with one task beside the response.

    sse-starlette's EventSourceResponse (which this replaced) ran four tasks per
    response in an anyio task group (the relay, the ping, the disconnect and the exit
    watchers) and a cancel scope around every send: with 1,000 slow streams that was a
    good part of each stream's memory and of each token's relay (docs/BENCHMARKS.md).
    Here the relay is the response's own coroutine, and one watcher task reads the
    client's disconnect (which ends the relay at once, closing the events' generator)
    and sends a keep-alive comment after every `keepalive_seconds` without a send.
    At shutdown the streams end by themselves: their turns are finished or stored
    `interrupted` by the drain, and a resume following another process's reply stops
    once this one drains (services/turns/replay.py).
    """

    # None, so that FastAPI documents no schema of its own (`string`, which
    # schemathesis then holds each event to): STREAM_DOC documents the stream.
    media_type = None

    def __init__(
        self,
        events: AsyncIterator[Any],
        keepalive_seconds: float,
        status_code: int = 200,
        framing: Callable[[Any], bytes] = frame,
    ) -> None:
        """`framing` puts one event on the wire: ours (`frame`) unless the route
        speaks another dialect (the /v1 door's `data:`-only chunks)."""
        # `status_code` is there for FastAPI's OpenAPI, which reads a response class's
        # default status from its __init__; a stream always starts with 200.
        super().__init__(status_code=status_code)
        self.events, self.keepalive_seconds = events, keepalive_seconds
        self.framing = framing
        self.raw_headers = [*HEADERS]
        self._sent_at = 0.0
        self._over = False
        self._client_left = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay = asyncio.current_task()
        assert relay is not None  # an ASGI app always runs in a task
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        watcher = asyncio.create_task(self._watch(receive, send, relay))
        try:
            await self._send_events(send)
        except asyncio.CancelledError:
            if not self._client_left or relay.uncancel() > 0:
                raise
        finally:
            self._over = True
            watcher.cancel()
            await _close(self.events)
        if not self._client_left:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_events(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        async for event in self.events:
            self._sent_at = loop.time()
            body = self.framing(event)
            await send({"type": "http.response.body", "body": body, "more_body": True})

    async def _watch(self, receive: Receive, send: Send, relay: asyncio.Task[Any]) -> None:
        """Until the client leaves: a keep-alive after every quiet interval."""
        loop = asyncio.get_running_loop()
        self._sent_at = loop.time()
        while True:
            quiet_for = loop.time() - self._sent_at
            try:
                async with asyncio.timeout(max(self.keepalive_seconds - quiet_for, 0)):
                    message = await receive()
            except TimeoutError:
                if loop.time() - self._sent_at >= self.keepalive_seconds and not self._over:
                    self._sent_at = loop.time()
                    body = {"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True}
                    await send(body)
                continue
            if message["type"] == "http.disconnect":
                if not self._over:
                    self._client_left = True
                    relay.cancel()
                return


async def _close(events: AsyncIterator[Any]) -> None:
    """Run the generator's cleanup (a follower detaching; `on_disconnect: cancel`)."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


# Documents what resume_point accepts; it checks, so the error can name the header. The
# header is a plain string with "" for none: an optional `str | None` would document a
# null branch, which a header cannot send (a client would send the text "null").
EVENT_ID_SCHEMA: dict[str, Any] = {"json_schema_extra": {"pattern": "^[0-9]*$"}}


def resume_point(last_event_id: str | None, after: int | None) -> int:
    """The id to resume after: the Last-Event-ID header wins over `?after`; an empty
    one means none, as the SSE standard has it."""
    if not last_event_id:
        return after or 0
    try:
        last_id = int(last_event_id)
    except ValueError:
        last_id = -1
    if last_id < 0:
        raise HTTPException(
            422, f"Last-Event-ID must be an event id (a number), got {last_event_id!r}"
        )
    return last_id
