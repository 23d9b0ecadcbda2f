"""Server-Sent Events framing (sse-starlette), shared by every streaming route."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import HTTPException
from sse_starlette import EventSourceResponse, ServerSentEvent

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


class KeepAlive(ServerSentEvent):
    """A bare comment line with no blank line after it.

    A blank line after a comment is legal SSE, but clients such as httpx-sse
    (issue #35) then dispatch a phantom empty event once an `id:` has been seen;
    without the blank line there is nothing to dispatch in any client.
    """

    def encode(self) -> bytes:
        return b": keep-alive\r\n"


def event_stream(events: AsyncIterator[TurnEvent], keepalive_seconds: float) -> EventSourceResponse:
    return EventSourceResponse(
        _frame(events),
        headers={"Cache-Control": "no-cache"},
        ping=keepalive_seconds,
        ping_message_factory=KeepAlive,
    )


async def _frame(events: AsyncIterator[TurnEvent]) -> AsyncIterator[ServerSentEvent]:
    async for event in events:
        data = json.dumps({"type": event.type, **event.data}, ensure_ascii=False)
        yield ServerSentEvent(data=data, event=event.type, id=str(event.id))


# Documents what resume_point accepts; it checks, so the error can name the header.
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
