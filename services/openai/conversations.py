"""OpenAI's Conversations API over our sessions: a conversation is a session, its
items the messages of its active path, oldest first (`msg_` and the message id).

Items are paged as OpenAI pages them (`limit`, `order`, `after` an item id). Newest
first (`desc`, the default) walks up the tree from the active leaf a page at a time,
as GET /api/sessions/{id}/messages does; `asc` reads the whole path once, so its cost
grows with the conversation's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.auth import Caller
from models.message import MessagePublic, messages_table
from models.openai_conversations import (
    ConversationCreate,
    ConversationObject,
)
from models.openai_responses import ITEM_PREFIX, InputMessage, Item, ItemList
from models.session import SessionPublic, SessionUpdate
from services.branches import BranchService
from services.errors import InvalidCursor, MessageNotFound
from services.history import HistoryService
from services.memory.window import ChatMessage
from services.openai.errors import SessionConflict
from services.openai.response_shapes import item_of, item_page
from services.openai.tool_messages import SYSTEM_ROLES
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
        items = ask.items or []
        system = "\n\n".join(m.text for m in items if m.role in SYSTEM_ROLES) or None
        history = [ChatMessage(m.role, m.text) for m in items if m.role not in SYSTEM_ROLES]
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
            newest_first = [_item(m) for m in reversed(page.items)]
            return item_page(newest_first, has_more=page.next_cursor is not None)
        path = (await self.history.page(conversation_id, caller, PATH_LIMIT, None)).items
        start = 0
        if after_id is not None:
            ids = [m.message_id for m in path]
            if after_id not in ids:
                raise InvalidCursor(after or "")
            start = ids.index(after_id) + 1
        chosen = path[start : start + limit]
        return item_page([_item(m) for m in chosen], has_more=start + limit < len(path))

    async def add_items(
        self, conversation_id: str, items: list[InputMessage], caller: Caller
    ) -> ItemList:
        """Append the items to the end of the conversation's active path. A system
        or developer item is refused: it is the session's system prompt, set when the
        conversation starts or with PATCH /api/sessions/{id}."""
        if any(m.role in SYSTEM_ROLES for m in items):
            raise SessionConflict(
                "system and developer items only start a conversation (its system prompt);"
                " change the prompt with PATCH /api/sessions/{id}"
            )
        history = [ChatMessage(m.role, m.text) for m in items]
        ids = await self.sessions.append(conversation_id, caller, history)
        added = [item_of(i, m.role, m.content) for i, m in zip(ids, history, strict=True)]
        return item_page(added, has_more=False)

    async def item(self, conversation_id: str, item: str, caller: Caller) -> Item:
        message_id = _message_id(item)
        query = self.sessions.visible_message(message_id, caller, M.role, M.content, M.status)
        async with self.database.read() as db:
            found = (await db.execute(query.where(M.session_id == conversation_id))).first()
        if found is None:
            raise MessageNotFound(item)
        return item_of(message_id, found.role, found.content, found.status)

    async def delete_item(
        self, conversation_id: str, item: str, caller: Caller
    ) -> ConversationObject:
        """Delete the message and what branches from it (as DELETE /api/messages/{id})."""
        await self.item(conversation_id, item, caller)
        await self.branches.delete(_message_id(item), caller)
        return await self.get(conversation_id, caller)


def _message_id(item: str) -> str:
    return item.removeprefix(ITEM_PREFIX)


def _item(message: MessagePublic) -> Item:
    return item_of(message.message_id, message.role, message.content, message.status)


def _conversation(session: SessionPublic) -> ConversationObject:
    return ConversationObject(
        id=session.session_id,
        created_at=int(session.created_at.timestamp()),
        metadata=session.metadata,
    )
