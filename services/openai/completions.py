"""POST /v1/chat/completions as one of our turns, and GET /v1/models.

With a session (the `X-Session-Id` header or `metadata.session_id`), only the last
message of `messages` is new (or the trailing `role: tool` results, which answer
the calls of the session's last reply): the window comes from the stored history
and memory, exactly as on /api/chat, and the earlier messages are not read.
Without one, the request is stored whole as a new session (its system and developer
messages as the session's system prompt, the rest as its history) before the turn
runs on it: nothing is lost, and the reply names the session to go on with.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from functools import partial
from typing import Any

from models.auth import Caller
from models.chat import ChatRequest
from models.openai import (
    ChatCompletion,
    ChatCompletionRequest,
    ModelCard,
    ModelList,
)
from services.chat import ChatService
from services.llm.pool import LLMPool
from services.openai.chunks import ChunkStream, completion_of
from services.openai.errors import SessionConflict
from services.openai.imported import Imported, gone_if_refused
from services.openai.profile_models import ProfileModels
from services.openai.tool_messages import SYSTEM_ROLES, new_part, stored_history, tool_results
from services.sessions import SessionService


@dataclass(frozen=True)
class StartedStream:
    session_id: str
    chunks: AsyncGenerator[dict[str, Any], None]


class OpenAIChat:
    def __init__(
        self,
        chat: ChatService,
        sessions: SessionService,
        models: ProfileModels,
        llm: LLMPool,
    ) -> None:
        self.chat, self.sessions, self.llm = chat, sessions, llm
        self.profile_models = models

    async def complete(
        self, ask: ChatCompletionRequest, header_session: str | None, caller: Caller
    ) -> ChatCompletion:
        turn, imported = await self._turn(ask, header_session, caller)
        async with gone_if_refused(self.sessions, imported, caller):
            reply = await self.chat.complete(turn, None, caller)
        return completion_of(reply.value, ask.model)

    async def stream(
        self, ask: ChatCompletionRequest, header_session: str | None, caller: Caller
    ) -> StartedStream:
        turn, imported = await self._turn(ask, header_session, caller)
        async with gone_if_refused(self.sessions, imported, caller):
            events = await self.chat.stream(turn, None, caller)
        include_usage = ask.stream_options is not None and ask.stream_options.include_usage
        chunks = ChunkStream(ask.model, include_usage).chunks(events.value)
        assert turn.session_id is not None
        return StartedStream(turn.session_id, chunks)

    async def models(self, caller: Caller) -> ModelList:
        """The upstream's models, then each chat profile as `profile:<name>`."""
        upstream = [ModelCard(id=model, owned_by="upstream") for model in await self.llm.models()]
        profiles = [
            ModelCard(id=name, owned_by="profile")
            for name in await self.profile_models.names(caller)
        ]
        return ModelList(data=upstream + profiles)

    async def _turn(
        self, ask: ChatCompletionRequest, header_session: str | None, caller: Caller
    ) -> tuple[ChatRequest, Imported | None]:
        """Our turn for the request: its session found, or made from its messages."""
        session_id = _one_session(header_session, ask.session_id)
        profile_id = await self.profile_models.profile_id(ask.model, caller)
        imported = None
        if session_id is None:
            imported = await self._new_session(ask, profile_id, caller)
            session_id = imported.session_id
        elif profile_id is not None:
            session = await self.sessions.get(session_id, caller)
            if session.profile_id != profile_id:
                raise SessionConflict(
                    f"model {ask.model!r} is not the profile of session {session_id};"
                    " change a session's profile with PATCH /api/sessions/{id}"
                )
        new = ask.messages[new_part(ask.messages) :]
        results = tool_results(new) if new[0].role == "tool" else None
        turn = ChatRequest(
            session_id=session_id,
            message=None if results else new[0].text,
            tool_results=results,
            tools=ask.tools,
            tool_choice=ask.tool_choice,
            max_new_tokens=ask.max_completion_tokens or ask.max_tokens,
            temperature=ask.temperature,
            top_p=ask.top_p,
            stop=ask.stop,
            model=self.profile_models.upstream_model(ask.model),
        )
        return turn, imported

    async def _new_session(
        self, ask: ChatCompletionRequest, profile_id: str | None, caller: Caller
    ) -> Imported:
        earlier = ask.messages[: new_part(ask.messages)]
        system = "\n\n".join(m.text for m in earlier if m.role in SYSTEM_ROLES and m.text)
        history = stored_history(ask.messages)[:-1]  # all checked, before anything is stored
        metadata = {k: v for k, v in (ask.metadata or {}).items() if k != "session_id"}
        session = await self.sessions.create_with_history(
            caller, history, metadata, system or None, profile_id
        )
        undo = partial(self.sessions.delete, session.session_id, caller)
        return Imported(session.session_id, session.active_leaf_id, undo)


def _one_session(header: str | None, in_metadata: str | None) -> str | None:
    if header and in_metadata and header != in_metadata:
        raise SessionConflict(
            f"the X-Session-Id header ({header}) and metadata.session_id ({in_metadata})"
            " name different sessions"
        )
    return header or in_metadata
