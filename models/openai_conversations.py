"""OpenAI's Conversations API shapes: a conversation is a session, its items the
messages of its active path (`msg_` and the message id)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.openai_responses import InputItem

MAX_ITEMS = 20
CONVERSATION_EXAMPLE: dict[str, Any] = {
    "id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
    "object": "conversation",
    "created_at": 1764500000,
    "metadata": {"topic": "travel"},
}


class ConversationCreate(BaseModel):
    """POST /v1/conversations; both fields optional."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "metadata": {"topic": "travel"},
                    "items": [{"type": "message", "role": "user", "content": "Hello!"}],
                }
            ]
        },
    )

    items: list[InputItem] | None = Field(
        None,
        max_length=MAX_ITEMS,
        description="Its first messages (system and developer ones: its system prompt)",
    )
    metadata: dict[str, str] | None = None


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"metadata": {"topic": "food"}}]}
    )

    metadata: dict[str, str]


class ItemsCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"items": [{"type": "message", "role": "user", "content": "Hi"}]}]
        },
    )

    items: list[InputItem] = Field(min_length=1, max_length=MAX_ITEMS)


class ConversationObject(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CONVERSATION_EXAMPLE]})

    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: dict[str, Any]


class ConversationDeleted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": CONVERSATION_EXAMPLE["id"],
                    "object": "conversation.deleted",
                    "deleted": True,
                }
            ]
        }
    )

    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: bool = True
