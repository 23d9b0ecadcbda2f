"""OpenAI's Responses API over our turns: create (whole, streamed or in the
background), retrieve (or resume its stream), cancel, delete, input items.

A response is a reply. `previous_response_id` continues from that reply (a branch
when it is not the newest: our `parent_id`), `conversation` continues a session's
active path, and neither starts a new session holding the request's items.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from models.auth import Caller
from models.chat import ChatRequest
from models.message import messages_table
from models.openai_items import ItemList
from models.openai_responses import RESPONSE_PREFIX, ResponseObject, ResponseRequest
from models.openai_tool_items import chat_tool_choice
from services.branches import BranchService
from services.chat import ChatService
from services.errors import MessageNotFound
from services.openai.errors import ResponseNotFound, SessionConflict
from services.openai.imported import Imported, gone_if_refused
from services.openai.profile_models import ProfileModels
from services.openai.response_events import ResponseEvents, turn_event_after
from services.openai.response_sessions import ResponseSessions
from services.openai.response_shapes import (
    Asked,
    item_of,
    item_page,
    output_items,
    response_of,
    skeleton,
)
from services.openai.tool_messages import (
    chat_messages_of,
    new_part,
    tool_results,
)
from services.openai.unstored import Unstored, UnstoredTurn
from services.sessions import SessionService
from services.storage import Database
from services.turns.replay import StoredReply, TurnReplay
from services.turns.runner import TurnRunner

M = messages_table.c


@dataclass(frozen=True)
class ResponseStream:
    response_id: str
    events: AsyncGenerator[dict[str, Any], None]


@dataclass
class OpenAIResponses:
    chat: ChatService
    sessions: SessionService
    replay: TurnReplay
    runner: TurnRunner
    branches: BranchService
    models: ProfileModels
    database: Database
    unstored: Unstored
    placing: ResponseSessions

    async def create(self, ask: ResponseRequest, caller: Caller) -> ResponseObject:
        """A whole response, or (`background`) one answered at once, still generating."""
        turn, asked, imported = await self._turn(ask, caller)
        if ask.background:
            async with gone_if_refused(self.sessions, imported, caller):
                events = (await self.chat.stream(turn, None, caller)).value
            start = await anext(aiter(events))
            await events.aclose()  # type: ignore[attr-defined]
            assert turn.session_id is not None
            return skeleton(start.data["message_id"], turn.session_id, asked)
        async with gone_if_refused(self.sessions, imported, caller):
            reply = (await self.chat.complete(turn, None, caller)).value
        response = response_of(await self.replay.load(reply.message_id, caller), asked)
        if not ask.store:
            ids = (reply.session_id, reply.user_message_id, reply.message_id)
            await self.unstored.forget(UnstoredTurn(*ids, imported), caller)
        return response

    async def stream(self, ask: ResponseRequest, caller: Caller) -> ResponseStream:
        turn, asked, imported = await self._turn(ask, caller)
        async with gone_if_refused(self.sessions, imported, caller):
            events = (await self.chat.stream(turn, None, caller)).value
        assert turn.session_id is not None
        if not ask.store:
            events = self.unstored.after_stream(events, imported, caller)
        stream = ResponseEvents(turn.session_id, asked, self._stored(caller))
        return ResponseStream("", stream.events(events))

    async def retrieve(self, response_id: str, caller: Caller) -> ResponseObject:
        reply = await self._load(response_id, caller)
        return response_of(reply, await self._echoed(reply))

    async def resume(self, response_id: str, starting_after: int, caller: Caller) -> ResponseStream:
        """The response's stream after `starting_after`, live or stored, from any
        instance (as GET /api/messages/{id}/stream resumes a reply)."""
        reply = await self._load(response_id, caller)
        after = turn_event_after(starting_after)
        events = await self.replay.resume(reply.message_id, after, caller)
        if events is None:  # ended, and every event up to its end was sent
            events = _aiter(reply.events_after(reply.terminal_id - 1))
        stream = ResponseEvents(
            reply.session_id,
            await self._echoed(reply),
            self._stored(caller),
            starting_after,
            reply.message_id,
        )
        return ResponseStream(response_id, stream.events(events))

    async def cancel(self, response_id: str, caller: Caller) -> ResponseObject:
        """Stop it if it is still generating (in whichever instance); its state after."""
        reply = await self._load(response_id, caller)
        await self.runner.stop_message(reply.message_id, caller)
        return await self.retrieve(response_id, caller)

    async def delete(self, response_id: str, caller: Caller) -> str:
        """The reply and what branches from it, as DELETE /api/messages/{id}."""
        reply = await self._load(response_id, caller)
        await self.branches.delete(reply.message_id, caller)
        return response_id

    async def input_items(self, response_id: str, caller: Caller) -> ItemList:
        reply = await self._load(response_id, caller)
        async with self.database.read() as db:
            user = (
                await db.execute(
                    select(M.message_id, M.role, M.content, M.tool_results).where(
                        M.message_id == reply.user_message_id
                    )
                )
            ).first()
        if user is None:
            return item_page([], has_more=False)
        if user.tool_results is not None:
            return item_page(output_items(user.message_id, user.tool_results), has_more=False)
        return item_page([item_of(user.message_id, user.role, user.content)], has_more=False)

    async def _turn(
        self, ask: ResponseRequest, caller: Caller
    ) -> tuple[ChatRequest, Asked, Imported | None]:
        """Our turn for the request, what to echo, and the session it made, if any."""
        if ask.previous_response_id and ask.conversation_id:
            raise SessionConflict("give previous_response_id or conversation, not both")
        profile_id = await self.models.profile_id(ask.model, caller)
        messages = chat_messages_of(ask.items)
        parent_id = session_id = None
        if ask.previous_response_id:
            previous = await self._load(ask.previous_response_id, caller)
            session_id, parent_id = previous.session_id, previous.message_id
        elif ask.conversation_id:
            session_id = ask.conversation_id
        imported: Imported | None = None
        if session_id is None:
            imported = await self.placing.start(ask, messages, profile_id, caller)
            session_id = imported.session_id
        else:
            at = (session_id, parent_id)
            parent_id, imported = await self.placing.go_on(ask, messages, at, profile_id, caller)
        new = messages[new_part(messages) :]
        results = tool_results(new) if new[0].role == "tool" else None
        turn = ChatRequest(
            session_id=session_id,
            parent_id=parent_id,
            message=None if results else new[0].text,
            tool_results=results,
            tools=[tool.as_spec() for tool in ask.tools or []] or None,
            tool_choice=chat_tool_choice(ask.tool_choice),
            max_new_tokens=ask.max_output_tokens,
            temperature=ask.temperature,
            top_p=ask.top_p,
            model=self.models.upstream_model(ask.model),
            truncation=ask.truncation,
            on_disconnect="continue" if ask.store else "cancel",
        )
        asked = _asked(ask)
        return turn.with_echo(asked.to_stored()), asked, imported

    async def _load(self, response_id: str, caller: Caller) -> StoredReply:
        if not response_id.startswith(RESPONSE_PREFIX):
            raise ResponseNotFound(response_id)
        try:
            return await self.replay.load(response_id.removeprefix(RESPONSE_PREFIX), caller)
        except MessageNotFound as exc:
            raise ResponseNotFound(response_id) from exc

    async def _echoed(self, reply: StoredReply) -> Asked:
        """What its request asked, as stored with it; a reply made on /api (or before
        echoes were kept) echoes the response it went on from, at least."""
        if reply.echo is not None:
            return Asked.from_stored(reply.echo)
        return Asked(previous_response_id=await self._previous(reply))

    async def _previous(self, reply: StoredReply) -> str | None:
        """The response this one went on from: its user message's parent reply."""
        async with self.database.read() as db:
            parent = (
                await db.execute(select(M.parent_id).where(M.message_id == reply.user_message_id))
            ).scalar()
        return RESPONSE_PREFIX + parent if parent else None

    def _stored(self, caller: Caller) -> Any:
        async def stored(message_id: str) -> StoredReply:
            return await self.replay.load(message_id, caller)

        return stored


def _asked(ask: ResponseRequest) -> Asked:
    return Asked(
        model=ask.model,
        instructions=ask.instructions,
        previous_response_id=ask.previous_response_id,
        metadata=ask.metadata or {},
        background=ask.background,
        temperature=ask.temperature,
        top_p=ask.top_p,
        max_output_tokens=ask.max_output_tokens,
        tools=ask.tools or [],
        tool_choice=ask.tool_choice or "auto",
        truncation=ask.truncation,
        store=ask.store,
    )


async def _aiter(events: list[Any]) -> AsyncGenerator[Any, None]:
    for event in events:
        yield event
