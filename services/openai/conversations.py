"""OpenAI's Conversations API over our sessions: a conversation is a session, its
items the messages of its active path, oldest first (`msg_` and the message id).

Items are paged as OpenAI pages them (`limit`, `order`, `after` an item id). Newest
first (`desc`, the default) walks up the tree from the active leaf a page at a time,
as GET /api/sessions/{id}/messages does; `asc` reads the whole path once, so its cost
grows with the conversation's length.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from models.auth import Caller
from models.message import MessagePublic, messages_table
from models.openai_conversations import (
    ConversationCreate,
    ConversationObject,
)
from models.openai_items import AnyItem, ItemList
from models.openai_responses import ITEM_PREFIX, InputItem
from models.openai_tool_items import CALL_ITEM_PREFIX
from models.session import SessionPublic, SessionUpdate
from services.branches import BranchService
from services.errors import InvalidCursor, MessageNotFound
from services.history import HistoryService
from services.memory.window import ChatMessage
from services.openai.errors import SessionConflict
from services.openai.response_shapes import item_page, stored_items
from services.openai.tool_messages import SYSTEM_ROLES, chat_messages_of, stored_history
from services.sessions import SessionService
from services.storage import Database

M = messages_table.c
PATH_LIMIT = 1_000_000  # `asc` reads the whole path: no conversation is longer


@dataclass
class OpenAIConversations:
    sessions: SessionService
    history: HistoryService
    branches: BranchService
    database: Database

    async def create(self, ask: ConversationCreate, caller: Caller) -> ConversationObject:
        messages = chat_messages_of(ask.items or [])
        system = "\n\n".join(m.text for m in messages if m.role in SYSTEM_ROLES) or None
        history = stored_history(messages)
        session = await self.sessions.create_with_history(caller, history, ask.metadata, system)
        return _conversation(session)

    async def get(self, conversation_id: str, caller: Caller) -> ConversationObject:
        return _conversation(await self.sessions.get(conversation_id, caller))

    async def update(
        self, conversation_id: str, metadata: dict[str, str], caller: Caller
    ) -> ConversationObject:
        session = await self.sessions.update(
            conversation_id, caller, SessionUpdate(metadata=metadata)
        )
        return _conversation(session)

    async def delete(self, conversation_id: str, caller: Caller) -> str:
        await self.sessions.delete(conversation_id, caller)
        return conversation_id

    async def items(
        self,
        conversation_id: str,
        caller: Caller,
        limit: int,
        order: Literal["asc", "desc"],
        after: str | None,
    ) -> ItemList:
        after_id = _message_id(after) if after else None
        if order == "desc":
            page = await self.history.page(conversation_id, caller, limit, after_id)
            newest_first = [item for m in reversed(page.items) for item in _items(m)[::-1]]
            return item_page(newest_first, has_more=page.next_cursor is not None)
        path = (await self.history.page(conversation_id, caller, PATH_LIMIT, None)).items
        start = 0
        if after_id is not None:
            ids = [m.message_id for m in path]
            if after_id not in ids:
                raise InvalidCursor(after or "")
            start = ids.index(after_id) + 1
        chosen = path[start : start + limit]
        listed = [item for m in chosen for item in _items(m)]
        return item_page(listed, has_more=start + limit < len(path))

    async def add_items(
        self, conversation_id: str, items: list[InputItem], caller: Caller
    ) -> ItemList:
        """Append the items to the end of the conversation's active path. A system
        or developer item is refused: it is the session's system prompt, set when the
        conversation starts or with PATCH /api/sessions/{id}. Function call outputs
        come with the calls they answer (outputs for a stored reply's calls go in a
        response: POST /v1/responses with the conversation)."""
        messages = chat_messages_of(items)
        if any(m.role in SYSTEM_ROLES for m in messages):
            raise SessionConflict(
                "system and developer items only start a conversation (its system prompt);"
                " change the prompt with PATCH /api/sessions/{id}"
            )
        history = stored_history(messages)
        ids = await self.sessions.append(conversation_id, caller, history)
        added = [item for i, m in zip(ids, history, strict=True) for item in stored_items(i, m)]
        return item_page(added, has_more=False)

    async def item(self, conversation_id: str, item: str, caller: Caller) -> AnyItem:
        message_id = _message_id(item)
        query = self.sessions.visible_message(
            message_id, caller, M.role, M.content, M.status, M.tool_calls, M.tool_results
        )
        async with self.database.read() as db:
            found = (await db.execute(query.where(M.session_id == conversation_id))).first()
        if found is None:
            raise MessageNotFound(item)
        stored = ChatMessage(found.role, found.content, None, None, None, found.tool_calls)
        stored = replace(stored, tool_results=found.tool_results)
        for candidate in stored_items(message_id, stored, found.status):
            if candidate.id == item:
                return candidate
        raise MessageNotFound(item)

    async def delete_item(
        self, conversation_id: str, item: str, caller: Caller
    ) -> ConversationObject:
        """Delete the message and what branches from it (as DELETE /api/messages/{id})."""
        await self.item(conversation_id, item, caller)
        await self.branches.delete(_message_id(item), caller)
        return await self.get(conversation_id, caller)


def _message_id(item: str) -> str:
    """The message an item id names: `msg_<id>`, or `fc_<id>_<n>` for its n-th call
    or call output."""
    if item.startswith(CALL_ITEM_PREFIX):
        return item.removeprefix(CALL_ITEM_PREFIX).rpartition("_")[0]
    return item.removeprefix(ITEM_PREFIX)


def _items(message: MessagePublic) -> list[AnyItem]:
    calls = [call.model_dump() for call in message.tool_calls or []] or None
    results = [result.model_dump() for result in message.tool_results or []] or None
    stored = ChatMessage(message.role, message.content, tool_calls=calls, tool_results=results)
    return stored_items(message.message_id, stored, message.status)


def _conversation(session: SessionPublic) -> ConversationObject:
    return ConversationObject(
        id=session.session_id,
        created_at=int(session.created_at.timestamp()),
        metadata=session.metadata,
    )
