"""Chat routes: a whole reply, or the reply as a Server-Sent Events stream (POST, or
GET for browser EventSource)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from api.auth import CallerDep, StreamCallerDep
from api.deps import (
    ChatDep,
    IdempotencyKey,
    ReplayDep,
    SettingsDep,
    mark_replayed,
    require_json_body,
)
from api.responses import (
    CHAT_UNPROCESSABLE,
    CONTEXT_LENGTH_EXCEEDED,
    LLM_ERRORS,
    ROUTER_ERRORS,
    SESSION_NOT_FOUND,
    TOO_LONG,
    TRUNCATION_REFUSED,
    TURN_BODY_ERRORS,
    TURN_IN_PROGRESS,
    error_examples,
)
from api.sse import (
    EVENT_ID_SCHEMA,
    NOTHING_LEFT,
    STREAM_DOC,
    EventStream,
    resume_point,
)
from models.chat import ChatQuery, ChatRequest, ChatResponse

router = APIRouter(
    prefix="/api/chat",
    tags=["chat"],
    dependencies=[Depends(require_json_body)],
    responses=ROUTER_ERRORS,
)

# The GET route has no body: no 415, no 400 for a body that cannot be parsed.
QUERY_ERRORS = {
    **SESSION_NOT_FOUND,
    **TURN_IN_PROGRESS,
    **CHAT_UNPROCESSABLE,
    **TOO_LONG,
    **error_examples(400, TRUNCATION_REFUSED, CONTEXT_LENGTH_EXCEEDED),
}
REQUEST_ERRORS = {**QUERY_ERRORS, **TURN_BODY_ERRORS}


@router.post(
    "",
    response_model=ChatResponse,
    responses={**REQUEST_ERRORS, **LLM_ERRORS},
)
async def chat(
    body: ChatRequest,
    service: ChatDep,
    caller: CallerDep,
    response: Response,
    key: IdempotencyKey = None,
) -> ChatResponse:
    """Send a message and get the whole reply; both messages are stored first.

    The reply can be stopped from another request (`POST /api/sessions/{id}/stop`):
    this call then answers 200 with the partial content and `finish_reason: cancelled`.
    Sent again with the same `Idempotency-Key`, it waits for the original turn and
    answers the same reply (header `Idempotent-Replayed: true`).
    """
    result = await service.complete(body, key, caller)
    mark_replayed(response, result.replayed)
    return result.value


@router.post(
    "/stream",
    response_class=EventStream,
    responses={**STREAM_DOC, **REQUEST_ERRORS},
)
async def chat_stream(
    body: ChatRequest,
    service: ChatDep,
    settings: SettingsDep,
    caller: CallerDep,
    key: IdempotencyKey = None,
) -> EventStream:
    """Send a message and receive the reply as Server-Sent Events.

    Generation runs on the server: if the connection drops, the reply is still
    generated and stored (unless `on_disconnect` is `cancel`), and
    `GET /api/messages/{message_id}/stream` with `Last-Event-ID` picks it up again.
    Sent again with the same `Idempotency-Key`, it streams the original turn from its
    first event (live if it is still generating) instead of starting another.
    """
    result = await service.stream(body, key, caller)
    stream = EventStream(result.value, settings.sse_keepalive_seconds)
    mark_replayed(stream, result.replayed)
    return stream


@router.get(
    "/stream",
    response_class=EventStream,
    responses={**STREAM_DOC, **NOTHING_LEFT, **QUERY_ERRORS},
)
async def chat_stream_get(
    query: Annotated[ChatQuery, Query()],
    service: ChatDep,
    settings: SettingsDep,
    replay: ReplayDep,
    caller: StreamCallerDep,
    last_event_id: Annotated[
        str,
        Header(description="Sent by EventSource when it reconnects", **EVENT_ID_SCHEMA),
    ] = "",
) -> Response:
    """The same turn and events as `POST /api/chat/stream`, for browser `EventSource`
    (which can only send GET): the fields go in the query string.

    EventSource reconnects by itself, with `Last-Event-ID`. Such a request does not
    send the message again: it resumes the session's newest reply after that id, and
    answers 204 (which stops the reconnecting) once nothing is left or when it has no
    `session_id` to resume. Create the session first so that reconnects can resume.
    """
    if last_event_id:
        after = resume_point(last_event_id, None)
        events = await replay.resume_newest(query.session_id, after, caller)
        if events is None:
            return Response(status_code=204)
        return EventStream(events, settings.sse_keepalive_seconds)
    return await chat_stream(query.as_request(), service, settings, caller)
