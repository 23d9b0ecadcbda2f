"""The OpenAI-compatible door: GET /v1/models and POST /v1/chat/completions.

Same storage, owners and keys as /api (the key as the OpenAI SDKs send it:
`Authorization: Bearer`); errors in OpenAI's shape (api/errors.py). A session is
named by the `X-Session-Id` header, which every reply also carries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from api.auth import CallerDep
from api.chat import REQUEST_ERRORS
from api.deps import SettingsDep, get_services, require_json_body
from api.openai_docs import OPENAI_STREAM_DOC, openai_errors
from api.responses import BODY_ERRORS, LLM_ERRORS, ROUTER_ERRORS
from api.sse import EventStream
from models.openai import SESSION_HEADER, ChatCompletion, ChatCompletionRequest, ModelList
from services.openai.completions import OpenAIChat

router = APIRouter(prefix="/v1", tags=["openai"], responses=openai_errors(ROUTER_ERRORS))

DONE = b"data: [DONE]\n\n"
SessionHeader = Annotated[
    str | None,
    Header(
        alias=SESSION_HEADER,
        min_length=1,
        max_length=36,
        description="The session to go on with; without it (or `metadata.session_id`)"
        " the request is stored as a new session, named by this header in the reply",
    ),
]


def _openai_chat(request: Request) -> OpenAIChat:
    return get_services(request).openai


OpenAIDep = Annotated[OpenAIChat, Depends(_openai_chat)]


@router.get("/models", response_model=ModelList, responses=openai_errors(LLM_ERRORS))
async def list_models(service: OpenAIDep, caller: CallerDep) -> ModelList:
    """The models the LLM server(s) serve, then each of the caller's chat profiles as
    `profile:<name>`: an OpenAI client picks a profile by picking a model."""
    return await service.models(caller)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    dependencies=[Depends(require_json_body)],
    # No `truncation` field here: the 400 is only the unparseable body's (BODY_ERRORS).
    responses={
        **OPENAI_STREAM_DOC,
        **openai_errors({**REQUEST_ERRORS, **BODY_ERRORS, **LLM_ERRORS}),
    },
)
async def chat_completions(
    body: ChatCompletionRequest,
    service: OpenAIDep,
    settings: SettingsDep,
    caller: CallerDep,
    response: Response,
    session_id: SessionHeader = None,
) -> ChatCompletion | EventStream:
    """OpenAI's chat completions, with memory: name a session (header `X-Session-Id`
    or `metadata.session_id`) and only the last user message of `messages` is new;
    the context comes from the stored history, summaries and profile, as on
    `/api/chat`. Without a session, `messages` is stored as a new session (system and
    developer messages as its system prompt) and the reply names it. `model` is an
    upstream model, or `profile:<name>` for one of your chat profiles. Not supported
    yet, and refused by name: `tools`, `n` > 1, `logprobs`, non-text content."""
    if body.stream:
        started = await service.stream(body, session_id, caller)
        stream = EventStream(
            _until_done(started.chunks), settings.sse_keepalive_seconds, framing=_frame
        )
        stream.headers[SESSION_HEADER] = started.session_id
        return stream
    completion = await service.complete(body, session_id, caller)
    response.headers[SESSION_HEADER] = completion.session_id
    return completion


async def _until_done(
    chunks: AsyncGenerator[dict[str, Any], None],
) -> AsyncGenerator[dict[str, Any] | None, None]:
    """The chunks, then None for `[DONE]` unless the stream ended in an error."""
    failed = False
    async with aclosing(chunks):
        async for chunk in chunks:
            failed = "error" in chunk
            yield chunk
    if not failed:
        yield None


def _frame(chunk: dict[str, Any] | None) -> bytes:
    if chunk is None:
        return DONE
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"
