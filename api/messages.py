"""Routes on one message: stop a reply, follow its stream again (resume), generate
another version of it, make its branch the active path, delete it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status

from api.auth import CallerDep, StreamCallerDep
from api.deps import (
    BranchesDep,
    ChatDep,
    HistoryDep,
    IdempotencyKey,
    ReplayDep,
    RunnerDep,
    SettingsDep,
    mark_replayed,
    require_json_body,
)
from api.responses import (
    LLM_ERRORS,
    MESSAGE_NOT_FOUND,
    NO_CONTEXT_PLAN,
    REGENERATE_UNPROCESSABLE,
    ROUTER_ERRORS,
    TURN_BODY_ERRORS,
    TURN_IN_PROGRESS,
    VALIDATION,
)
from api.sse import (
    EVENT_ID_SCHEMA,
    NOTHING_LEFT,
    STREAM_DOC,
    EventStream,
    resume_point,
)
from models.chat import ChatResponse, Regeneration, StopResult, TurnOptions
from models.context import ContextPlan
from models.session import SessionPublic

router = APIRouter(prefix="/api/messages", tags=["messages"], responses=ROUTER_ERRORS)


@router.post("/{message_id}/cancel", response_model=StopResult, responses=MESSAGE_NOT_FOUND)
async def cancel_reply(message_id: str, runner: RunnerDep, caller: CallerDep) -> StopResult:
    """Stop this reply if it is still being generated (as `POST /api/sessions/{id}/stop`).

    A reply that already ended is left as it is: 200 with `stopped: false` and its status.
    """
    return await runner.stop_message(message_id, caller)


REGENERATE_ERRORS = {
    **MESSAGE_NOT_FOUND,
    **TURN_IN_PROGRESS,
    **REGENERATE_UNPROCESSABLE,
    **TURN_BODY_ERRORS,
}
OptionalOptions = Annotated[
    TurnOptions | None,
    Body(description="Sampling fields for the new version; leave out for the defaults"),
]


def _regeneration(message_id: str, options: TurnOptions | None) -> Regeneration:
    fields = options.model_dump(exclude_unset=True) if options is not None else {}
    return Regeneration(message_id=message_id, **fields)


@router.post(
    "/{message_id}/regenerate",
    response_model=ChatResponse,
    dependencies=[Depends(require_json_body)],
    responses={**REGENERATE_ERRORS, **LLM_ERRORS},
)
async def regenerate(
    message_id: str,
    service: ChatDep,
    caller: CallerDep,
    response: Response,
    options: OptionalOptions = None,
    key: IdempotencyKey = None,
) -> ChatResponse:
    """Generate another version of this reply and answer it whole: a new reply to the
    same user message, stored beside the old versions (none is deleted), its branch
    the active path from the moment it starts.

    `message_id` is an assistant reply; a user message works too (a new reply to it).
    Everything a chat turn does holds: one generation per session (409), stop,
    status, idempotency (`Idempotency-Key`: the repeat answers the original version).
    """
    result = await service.complete(_regeneration(message_id, options), key, caller)
    mark_replayed(response, result.replayed)
    return result.value


@router.post(
    "/{message_id}/regenerate/stream",
    response_class=EventStream,
    dependencies=[Depends(require_json_body)],
    responses={**STREAM_DOC, **REGENERATE_ERRORS},
)
async def regenerate_stream(
    message_id: str,
    service: ChatDep,
    settings: SettingsDep,
    caller: CallerDep,
    options: OptionalOptions = None,
    key: IdempotencyKey = None,
) -> EventStream:
    """Generate another version of this reply as Server-Sent Events: the same events
    as `POST /api/chat/stream`, and the same stop, resume (`GET
    /api/messages/{new id}/stream`) and `on_disconnect`. The `start` event names the
    new version's id."""
    result = await service.stream(_regeneration(message_id, options), key, caller)
    stream = EventStream(result.value, settings.sse_keepalive_seconds)
    mark_replayed(stream, result.replayed)
    return stream


@router.get(
    "/{message_id}/context",
    response_model=ContextPlan,
    responses=NO_CONTEXT_PLAN,
)
async def context_plan(message_id: str, history: HistoryDep, caller: CallerDep) -> ContextPlan:
    """What was sent to the LLM for this reply, as its turn counted it before sending:
    the counter (the server's tokenizer or the estimate), the budget, the room kept for
    the reply, and each part of the prompt in order (the system prompt, a summary, each
    message by id) with its tokens; the history that did not fit is `left_out`.

    Ids and counts only, no text: the messages are in the history. Replies stored
    before plans were kept, and user messages, have none (404).
    """
    return await history.context(message_id, caller)


@router.post("/{message_id}/select", response_model=SessionPublic, responses=MESSAGE_NOT_FOUND)
async def select_version(
    message_id: str, branches: BranchesDep, caller: CallerDep
) -> SessionPublic:
    """Make the session's active path go through this message, down to the newest
    message below it (the "< 2/3 >" arrow of a chat UI); answers the session.

    Any message of the session can be selected: a version of a reply, or of a user
    message that was edited. It moves only the active path: a reply being generated
    goes on, and the history (`GET /api/sessions/{id}/messages`) and the next turn
    follow the new path.
    """
    return await branches.select(message_id, caller)


@router.delete(
    "/{message_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**MESSAGE_NOT_FOUND, **TURN_IN_PROGRESS},
)
async def delete_message(message_id: str, branches: BranchesDep, caller: CallerDep) -> None:
    """Delete this message and every message below it (its replies, their follow-ups,
    every version), in one transaction; recorded in the audit trail.

    If the active path went through it, the path then ends at the newest message
    left below its parent (or at the parent). 409 while a reply of that subtree is
    being generated: stop it first.
    """
    await branches.delete(message_id, caller)


@router.get(
    "/{message_id}/stream",
    response_class=EventStream,
    responses={**STREAM_DOC, **NOTHING_LEFT, **MESSAGE_NOT_FOUND, **VALIDATION},
)
async def resume_stream(
    message_id: str,
    replay: ReplayDep,
    settings: SettingsDep,
    caller: StreamCallerDep,
    after: Annotated[
        int | None, Query(ge=0, description="Send the events after this id (as Last-Event-ID)")
    ] = None,
    last_event_id: Annotated[
        str,
        Header(
            description="The id of the last event received; wins over `after`",
            **EVENT_ID_SCHEMA,
        ),
    ] = "",
) -> Response:
    """Re-attach to a reply's event stream, live or finished, from any worker.

    Sends every event after the given id, then follows the generation live until its
    `done` or `error`. Text already stored may come as fewer, larger deltas; ids stay
    in order and the deltas received before and after the reconnect add up to the
    stored content exactly. 204 when the reply ended and nothing is left to send.
    """
    events = await replay.resume(message_id, resume_point(last_event_id, after), caller)
    if events is None:
        return Response(status_code=204)
    return EventStream(events, settings.sse_keepalive_seconds)
