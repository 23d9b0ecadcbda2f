"""The Conversations API on the OpenAI door: a conversation is a session, its items
the messages of its active path. Errors in OpenAI's shape."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from api.auth import CallerDep
from api.deps import get_services, require_json_body
from api.openai_docs import openai_errors
from api.responses import (
    BAD_CURSOR,
    BODY_ERRORS,
    MESSAGE_NOT_FOUND,
    ROUTER_ERRORS,
    SESSION_NOT_FOUND,
    TURN_IN_PROGRESS,
    VALIDATION,
)
from models.openai_conversations import (
    ConversationCreate,
    ConversationDeleted,
    ConversationObject,
    ConversationUpdate,
    ItemsCreate,
)
from models.openai_items import AnyItem, ItemList
from services.openai.conversations import OpenAIConversations

router = APIRouter(
    prefix="/v1/conversations", tags=["openai"], responses=openai_errors(ROUTER_ERRORS)
)
JSON_BODY = [Depends(require_json_body)]
NOT_FOUND = openai_errors(SESSION_NOT_FOUND)
ITEM_NOT_FOUND = openai_errors({**SESSION_NOT_FOUND, **MESSAGE_NOT_FOUND})
WRITE_ERRORS = openai_errors({**VALIDATION, **BODY_ERRORS})


def _conversations(request: Request) -> OpenAIConversations:
    return get_services(request).conversations


ConversationsDep = Annotated[OpenAIConversations, Depends(_conversations)]


@router.post("", response_model=ConversationObject, dependencies=JSON_BODY, responses=WRITE_ERRORS)
async def create_conversation(
    body: ConversationCreate, service: ConversationsDep, caller: CallerDep
) -> ConversationObject:
    """A new conversation (a session), holding `items` as its first messages (system
    and developer ones become its system prompt) and `metadata`."""
    return await service.create(body, caller)


@router.get("/{conversation_id}", response_model=ConversationObject, responses=NOT_FOUND)
async def get_conversation(
    conversation_id: str, service: ConversationsDep, caller: CallerDep
) -> ConversationObject:
    """The conversation (the session, as GET /api/sessions/{id} shows it)."""
    return await service.get(conversation_id, caller)


@router.post(
    "/{conversation_id}",
    response_model=ConversationObject,
    dependencies=JSON_BODY,
    responses={**NOT_FOUND, **WRITE_ERRORS},
)
async def update_conversation(
    conversation_id: str, body: ConversationUpdate, service: ConversationsDep, caller: CallerDep
) -> ConversationObject:
    """Replace the conversation's metadata."""
    return await service.update(conversation_id, body.metadata, caller)


@router.delete("/{conversation_id}", response_model=ConversationDeleted, responses=NOT_FOUND)
async def delete_conversation(
    conversation_id: str, service: ConversationsDep, caller: CallerDep
) -> ConversationDeleted:
    """Delete the conversation and every message of it (as DELETE /api/sessions/{id})."""
    return ConversationDeleted(id=await service.delete(conversation_id, caller))


@router.get(
    "/{conversation_id}/items",
    response_model=ItemList,
    responses={**NOT_FOUND, **openai_errors(BAD_CURSOR)},
)
async def list_items(
    conversation_id: str,
    service: ConversationsDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query(description="desc: newest first")] = "desc",
    after: Annotated[str | None, Query(description="An item id: list those after it")] = None,
) -> ItemList:
    """The messages of the conversation's active path as items, `limit` at a time."""
    return await service.items(conversation_id, caller, limit, order, after)


@router.post(
    "/{conversation_id}/items",
    response_model=ItemList,
    dependencies=JSON_BODY,
    responses={**NOT_FOUND, **openai_errors(TURN_IN_PROGRESS), **WRITE_ERRORS},
)
async def create_items(
    conversation_id: str, body: ItemsCreate, service: ConversationsDep, caller: CallerDep
) -> ItemList:
    """Add messages at the end of the conversation's active path (not while a reply
    is being generated there: 409)."""
    return await service.add_items(conversation_id, body.items, caller)


@router.get("/{conversation_id}/items/{item_id}", response_model=AnyItem, responses=ITEM_NOT_FOUND)
async def get_item(
    conversation_id: str, item_id: str, service: ConversationsDep, caller: CallerDep
) -> AnyItem:
    """One item of the conversation (of any branch): a message, a function call
    (`fc_<message id>_<n>`: a reply's n-th call) or a call's output."""
    return await service.item(conversation_id, item_id, caller)


@router.delete(
    "/{conversation_id}/items/{item_id}",
    response_model=ConversationObject,
    responses=ITEM_NOT_FOUND,
)
async def delete_item(
    conversation_id: str, item_id: str, service: ConversationsDep, caller: CallerDep
) -> ConversationObject:
    """Delete the message and what branches from it (as DELETE /api/messages/{id});
    the conversation after."""
    return await service.delete_item(conversation_id, item_id, caller)
