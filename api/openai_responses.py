"""The Responses API on the OpenAI door: create, retrieve (or resume its stream),
cancel, delete, and a response's input items. Errors in OpenAI's shape."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.auth import CallerDep
from api.chat import REQUEST_ERRORS
from api.deps import SettingsDep, get_services, require_json_body
from api.openai_docs import openai_errors
from api.responses import LLM_ERRORS, ROUTER_ERRORS, error_doc
from api.sse import EventStream
from models.openai_items import ItemList
from models.openai_responses import ResponseDeleted, ResponseObject, ResponseRequest
from services.openai.responses import OpenAIResponses

router = APIRouter(prefix="/v1/responses", tags=["openai"], responses=openai_errors(ROUTER_ERRORS))

NOT_FOUND = openai_errors(
    error_doc(
        404,
        "Unknown response (or previous_response_id), or another key's",
        "Response resp_9c1d2e3f-... not found",
        "response_not_found",
    )
)
CREATE_ERRORS = openai_errors({**REQUEST_ERRORS, **LLM_ERRORS})
STREAM_EXAMPLE = (
    'event: response.created\ndata: {"type": "response.created", "sequence_number": 0,'
    ' "response": {"id": "resp_9c1d...", "status": "in_progress", "output": []}}\n\n'
    'event: response.output_text.delta\ndata: {"type": "response.output_text.delta",'
    ' "sequence_number": 4, "item_id": "msg_9c1d...", "output_index": 0,'
    ' "content_index": 0, "delta": "Lisbon"}\n\n'
    'event: response.completed\ndata: {"type": "response.completed", "sequence_number": 9,'
    ' "response": {"id": "resp_9c1d...", "status": "completed"}}\n\n'
)
RESPONSE_STREAM_DOC: dict[int | str, Any] = {
    200: {
        "description": "With `stream: true`, text/event-stream of OpenAI's typed events,"
        " numbered by `sequence_number` (the same numbers on a resumed stream), ending in"
        " `response.completed`, `.incomplete`, `.cancelled` or `.failed` as stored.",
        "content": {"text/event-stream": {"example": STREAM_EXAMPLE}},
    }
}
ResponseId = Annotated[str, "resp_ and the reply's message id"]


def _responses(request: Request) -> OpenAIResponses:
    return get_services(request).responses


ResponsesDep = Annotated[OpenAIResponses, Depends(_responses)]


@router.post(
    "",
    response_model=ResponseObject,
    dependencies=[Depends(require_json_body)],
    responses={
        **RESPONSE_STREAM_DOC,
        **NOT_FOUND,
        **openai_errors({**REQUEST_ERRORS, **LLM_ERRORS}),
    },
)
async def create_response(
    body: ResponseRequest, service: ResponsesDep, settings: SettingsDep, caller: CallerDep
) -> ResponseObject | EventStream:
    """A response: a turn in a new conversation, in `conversation` (a session), or going
    on from `previous_response_id` (a branch when that one is not the newest). Whole,
    streamed (`stream`), or answered at once with `background` and generated on the
    server: retrieve it, resume its stream, or cancel it, from any instance."""
    if body.stream:
        started = await service.stream(body, caller)
        return _event_stream(started.events, settings.sse_keepalive_seconds)
    return await service.create(body, caller)


@router.get(
    "/{response_id}",
    response_model=ResponseObject,
    responses={**RESPONSE_STREAM_DOC, **NOT_FOUND},
)
async def retrieve_response(
    response_id: ResponseId,
    service: ResponsesDep,
    settings: SettingsDep,
    caller: CallerDep,
    stream: Annotated[bool, Query(description="Resume the response's event stream")] = False,
    starting_after: Annotated[
        int, Query(ge=-1, description="With stream: the last sequence_number received")
    ] = -1,
) -> ResponseObject | EventStream:
    """The response as stored now; with `stream=true`, its events after
    `starting_after` (live while it generates, from any instance)."""
    if stream:
        resumed = await service.resume(response_id, starting_after, caller)
        return _event_stream(resumed.events, settings.sse_keepalive_seconds)
    return await service.retrieve(response_id, caller)


@router.post("/{response_id}/cancel", response_model=ResponseObject, responses=NOT_FOUND)
async def cancel_response(
    response_id: ResponseId, service: ResponsesDep, caller: CallerDep
) -> ResponseObject:
    """Stop a response still generating, background or not, in whichever instance runs
    it (the LLM server's request is closed, the text so far kept); one that ended is
    answered as it is."""
    return await service.cancel(response_id, caller)


@router.delete("/{response_id}", response_model=ResponseDeleted, responses=NOT_FOUND)
async def delete_response(
    response_id: ResponseId, service: ResponsesDep, caller: CallerDep
) -> ResponseDeleted:
    """Delete the response and everything that went on from it (its reply's subtree,
    as DELETE /api/messages/{id}); its user message stays."""
    return ResponseDeleted(id=await service.delete(response_id, caller))


@router.get("/{response_id}/input_items", response_model=ItemList, responses=NOT_FOUND)
async def list_input_items(
    response_id: ResponseId, service: ResponsesDep, caller: CallerDep
) -> ItemList:
    """The input the response answered: its user message."""
    return await service.input_items(response_id, caller)


def _event_stream(events: AsyncGenerator[dict[str, Any], None], keepalive: float) -> EventStream:
    return EventStream(events, keepalive, framing=_frame)


def _frame(event: dict[str, Any]) -> bytes:
    data = json.dumps(event, ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode()
