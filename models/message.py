"""Stored messages and their API shapes.

`seq` orders a session's messages by creation (unique with session_id); timestamps
never do, because two messages can share one. `parent_id` makes them a tree: the
history is the path from the first message to the session's active leaf. The
unique index on (session_id, seq) also serves the newest-N context window read
backwards.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Table,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from models.session import SESSION_EXAMPLE, SessionPublic
from models.tools import ToolCall, ToolResult
from models.types import UTCDateTime


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"  # the results of a reply's tool calls, sent back by the client


class MessageStatus(StrEnum):
    """Lifecycle of a message; user messages are always complete."""

    COMPLETE = "complete"
    STREAMING = "streaming"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


def _in_list(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class MessageRecord(SQLModel, table=True):
    """One user or assistant message of a session."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="uq_messages_session_seq"),
        CheckConstraint(_in_list("role", Role), name="ck_messages_role"),
        CheckConstraint(_in_list("status", MessageStatus), name="ck_messages_status"),
        # A message's children: its versions' siblings, a subtree to delete. With
        # session_id first, a session's first messages (parent NULL) are found too.
        Index("ix_messages_parent", "session_id", "parent_id"),
        # Only turns being generated: finds a session's active turn (409, status, stop)
        # and the startup sweep without touching the rest of the table. `status` is a
        # column of it so that planners without statistics prefer it to the index above
        # (equal on session_id alone, that one made SQLite read every message of the
        # session: 130 ms a turn at 100,000 messages). Queries say GENERATING (below).
        Index(
            "ix_messages_streaming",
            "session_id",
            "status",
            sqlite_where=text(f"status = '{MessageStatus.STREAMING.value}'"),
            postgresql_where=text(f"status = '{MessageStatus.STREAMING.value}'"),
        ),
    )

    message_id: str = TableField(primary_key=True, max_length=36)
    session_id: str = TableField(
        sa_column=Column(
            String(36), ForeignKey("sessions.session_id", ondelete="CASCADE"), nullable=False
        )
    )
    seq: int
    # The message this one answers or follows; None for a session's first. No foreign
    # key: a cascade down a long chain would recurse once per message (SQLite caps
    # that depth), so subtrees are deleted by one recursive query instead.
    parent_id: str | None = TableField(default=None, max_length=36)
    role: str
    content: str
    status: str = MessageStatus.COMPLETE
    created_at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))
    token_usage: dict[str, Any] | None = TableField(default=None, sa_column=Column(JSON))
    finish_reason: str | None = None
    error: str | None = None
    # The length of each streamed delta, in order: maps an SSE event id to a text
    # offset, so any worker can resume a stream from the stored text alone.
    delta_lengths: list[int] | None = TableField(default=None, sa_column=Column(JSON))
    # While `streaming`: when its worker last said it is alive (see TurnRunner).
    heartbeat_at: datetime | None = TableField(default=None, sa_column=Column(UTCDateTime()))
    # The LLM server asked last for this reply (one of LLM_SERVER_URL's); for operators.
    llm_server: str | None = TableField(default=None, max_length=2048)
    # The content's tokens, counted once when stored, and by what ("server:<model>" or
    # "estimate"): a window reuses the count when its counter is the same.
    token_count: int | None = None
    token_counter: str | None = TableField(default=None, max_length=300)
    # A reply's context plan (models/context.py), compact: ids and counts, no text.
    context_plan: dict[str, Any] | None = TableField(default=None, sa_column=Column(JSON))
    # A reply's model: the one the server said answered, else the one asked for.
    model: str | None = TableField(default=None, max_length=300)
    # A reply's tool calls [{id, type, function: {name, arguments}}] (models/tools.py);
    # a `tool` message's results [{tool_call_id, content}]. None on other messages.
    tool_calls: list[dict[str, Any]] | None = TableField(
        default=None, sa_column=Column(JSON(none_as_null=True))
    )
    tool_results: list[dict[str, Any]] | None = TableField(
        default=None, sa_column=Column(JSON(none_as_null=True))
    )
    # A reply asked through the /v1 door: what its request said that a retrieve echoes
    # (a response's metadata, instructions, tools...). None for others.
    echo: dict[str, Any] | None = TableField(
        default=None, sa_column=Column(JSON(none_as_null=True))
    )


MESSAGE_EXAMPLE: dict[str, Any] = {
    "message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
    "parent_id": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
    "role": "assistant",
    "content": "Hello! How can I help?",
    "status": "complete",
    "created_at": "2026-11-21T10:05:00Z",
    "token_usage": {
        "prompt_tokens": 12,
        "completion_tokens": 7,
        "total_tokens": 19,
        "estimated": False,
    },
    "finish_reason": "stop",
    "error": None,
    "sibling_index": 1,
    "sibling_count": 2,
}
# A whole export (GET /api/sessions/{id}/export), importable as it is shown: the
# question the reply above answers is there, so every parent is.
QUESTION_EXAMPLE: dict[str, Any] = MESSAGE_EXAMPLE | {
    "message_id": MESSAGE_EXAMPLE["parent_id"],
    "parent_id": None,
    "role": "user",
    "content": "Hello!",
    "created_at": "2026-11-21T10:04:59Z",
    "token_usage": None,
    "finish_reason": None,
    "sibling_index": 0,
    "sibling_count": 1,
}
EXPORT_EXAMPLE: dict[str, Any] = {
    "session": SESSION_EXAMPLE | {"message_count": 2},
    "messages": [QUESTION_EXAMPLE, MESSAGE_EXAMPLE | {"sibling_index": 0, "sibling_count": 1}],
}
messages_table: Table = MessageRecord.__table__  # type: ignore[attr-defined]
# "Being generated", with the status as a literal, so that the partial index applies
# to every plan: PostgreSQL's generic plan of a prepared statement cannot use it for
# `status = $1`.
GENERATING: ColumnElement[bool] = messages_table.c.status == literal_column(
    f"'{MessageStatus.STREAMING.value}'"
)


class TokenUsage(BaseModel):
    """Token counts of one turn; `estimated` when the LLM server gave none."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    estimated: bool = False


class MessagePublic(BaseModel):
    """A stored message as clients see it."""

    model_config = ConfigDict(json_schema_extra={"examples": [MESSAGE_EXAMPLE]})

    message_id: str
    session_id: str
    parent_id: str | None = Field(
        None,
        description="The message this one follows (a reply: its user message); null for"
        " the first message of a session",
    )
    role: Role
    content: str
    status: MessageStatus
    created_at: datetime
    token_usage: TokenUsage | None = None
    finish_reason: str | None = None
    error: str | None = Field(None, description="Error code of a failed assistant message")
    model: str | None = Field(
        None, description="A reply's model (as the LLM server named it); null for others"
    )
    tool_calls: list[ToolCall] | None = Field(
        None, description="A reply's tool calls, for the client to run; null when none"
    )
    tool_results: list[ToolResult] | None = Field(
        None, description="A `tool` message's results of those calls; null on others"
    )
    sibling_index: int = Field(
        0,
        description="Its place among the versions that share its parent (0-based, in"
        ' creation order): with sibling_count, a UI\'s "< 2/3 >"',
    )
    sibling_count: int = Field(1, description="How many versions share its parent")


class MessagePage(BaseModel):
    """The newest messages before a point, in chronological order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [MESSAGE_EXAMPLE],
                    "next_cursor": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
                }
            ]
        }
    )

    items: list[MessagePublic]
    next_cursor: str | None = Field(
        None,
        description="message_id to pass as `before` for the older page; null when none",
    )


PREVIEW_CHARS = 80
TREE_NODE_EXAMPLE: dict[str, Any] = {
    "message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "parent_id": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
    "role": "assistant",
    "status": "complete",
    "created_at": "2026-11-21T10:05:00Z",
    "preview": "Hello! How can I help?",
}


class TreeNode(BaseModel):
    """A message as a node of the session's tree: enough to draw it, not its text."""

    message_id: str
    parent_id: str | None
    role: Role
    status: MessageStatus
    created_at: datetime
    preview: str = Field(description=f"The first {PREVIEW_CHARS} characters of its content")


class TreePage(BaseModel):
    """Every message of a session as a node, in creation order, a page at a time."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [TREE_NODE_EXAMPLE],
                    "next_cursor": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
                }
            ]
        }
    )

    items: list[TreeNode]
    next_cursor: str | None = Field(
        None, description="message_id to pass as `after` for the next page; null on the last"
    )


class SessionExport(BaseModel):
    """A whole conversation: the session and every message, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXPORT_EXAMPLE]})

    session: SessionPublic
    messages: list[MessagePublic]
