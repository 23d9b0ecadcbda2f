"""Chat routes: a whole reply, or the reply as a Server-Sent Events stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.deps import RunnerDep, TurnsDep, require_json_body
from api.responses import (
    CHAT_UNPROCESSABLE,
    LLM_ERRORS,
    NOT_JSON,
    SESSION_NOT_FOUND,
    TOO_LONG,
    TURN_IN_PROGRESS,
)
from models.chat import ChatRequest, ChatResponse
from services.live_turn import TurnEvent

router = APIRouter(prefix="/api/chat", tags=["chat"], dependencies=[Depends(require_json_body)])

STREAM_EXAMPLE = (
    'id: 1\nevent: start\ndata: {"type": "start", "session_id": "3f2b...", '
    '"user_message_id": "1a2b...", "message_id": "9c1d..."}\n\n'
    'id: 2\nevent: delta\ndata: {"type": "delta", "content": "Hello"}\n\n'
    'id: 3\nevent: delta\ndata: {"type": "delta", "content": "!"}\n\n'
    'id: 4\nevent: done\ndata: {"type": "done", "message_id": "9c1d...", '
    '"finish_reason": "stop", "token_usage": {"prompt_tokens": 12, '
    '"completion_tokens": 2, "total_tokens": 14, "estimated": false}}\n\n'
)
STREAM_DOC: dict[int | str, Any] = {
    200: {
        "description": (
            "text/event-stream: `start`, one `delta` per upstream chunk, then `done` or "
            "`error` ({code, message}). Comment lines are keep-alives."
        ),
        "content": {"text/event-stream": {"example": STREAM_EXAMPLE}},
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


REQUEST_ERRORS = {
    **SESSION_NOT_FOUND,
    **TURN_IN_PROGRESS,
    **CHAT_UNPROCESSABLE,
    **NOT_JSON,
    **TOO_LONG,
}


@router.post("", response_model=ChatResponse, responses={**REQUEST_ERRORS, **LLM_ERRORS})
async def chat(body: ChatRequest, runner: RunnerDep) -> ChatResponse:
    """Send a message and get the whole reply; both messages are stored first.

    The reply can be stopped from another request (`POST /api/sessions/{id}/stop`):
    this call then answers 200 with the partial content and `finish_reason: cancelled`.
    """
    return await runner.complete(body)


@router.post(
    "/stream", response_class=EventSourceResponse, responses={**STREAM_DOC, **REQUEST_ERRORS}
)
async def chat_stream(body: ChatRequest, turns: TurnsDep, runner: RunnerDep) -> EventSourceResponse:
    """Send a message and receive the reply as Server-Sent Events.

    Generation runs on the server: if the connection drops, the reply is still
    generated and stored (unless `on_disconnect` is `cancel`), and
    `GET /api/messages/{message_id}/stream` with `Last-Event-ID` picks it up again.
    """
    live = runner.start(await turns.prepare(body))
    return EventSourceResponse(
        _frame(runner.follow(live, on_disconnect=body.on_disconnect)),
        headers={"Cache-Control": "no-cache"},
        ping=turns.settings.sse_keepalive_seconds,
        ping_message_factory=KeepAlive,
    )


async def _frame(events: AsyncIterator[TurnEvent]) -> AsyncIterator[ServerSentEvent]:
    async for event in events:
        data = json.dumps({"type": event.type, **event.data}, ensure_ascii=False)
        yield ServerSentEvent(data=data, event=event.type, id=str(event.id))
