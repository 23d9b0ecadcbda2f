"""Running summaries of what fell out of a session's window: a table and its API shapes.

A summary covers a prefix of a path: every message from the session's first down to
`covers_through_message_id`. Messages never change (an edit is a new sibling), so a
summary stays valid for every branch whose path passes through that message, and
for no other. Deleting a message deletes its subtree, and the foreign key below
deletes the summaries that covered through any of it: nothing a user deleted
survives in a summary. Raw history is never deleted or rewritten by summarizing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from models.message import TokenUsage
from models.types import UTCDateTime


class SummaryRecord(SQLModel, table=True):
    __tablename__ = "summaries"
    __table_args__ = (
        Index("ix_summaries_session", "session_id", "created_at", "summary_id"),
        Index("ix_summaries_covers", "covers_through_message_id"),
    )

    summary_id: str = TableField(primary_key=True, max_length=36)
    session_id: str = TableField(
        sa_column=Column(
            String(36), ForeignKey("sessions.session_id", ondelete="CASCADE"), nullable=False
        )
    )
    covers_through_message_id: str = TableField(
        sa_column=Column(
            String(36), ForeignKey("messages.message_id", ondelete="CASCADE"), nullable=False
        )
    )
    # Messages of the path it covers (from the first): what it stands in for.
    covered_messages: int
    text: str
    model: str | None = TableField(default=None, max_length=300)
    token_usage: dict[str, Any] | None = TableField(default=None, sa_column=Column(JSON))
    created_at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))
    # Its tokens as a window part, counted once when stored (as a message's).
    token_count: int | None = None
    token_counter: str | None = TableField(default=None, max_length=300)
    # The summary it extends (a running summary); None for the first of a path.
    previous_summary_id: str | None = TableField(default=None, max_length=36)


summaries_table: Table = SummaryRecord.__table__  # type: ignore[attr-defined]

SUMMARY_EXAMPLE: dict[str, Any] = {
    "summary_id": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
    "covers_through_message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "covered_messages": 24,
    "text": "The user is planning a trip to Busan in May and prefers trains.",
    "model": "SmolLM2-135M-Instruct",
    "token_usage": {
        "prompt_tokens": 812,
        "completion_tokens": 41,
        "total_tokens": 853,
        "estimated": False,
    },
    "previous_summary_id": None,
    "created_at": "2026-11-30T10:05:00Z",
}


class SummaryPublic(BaseModel):
    """A stored running summary of a path's first messages."""

    model_config = ConfigDict(json_schema_extra={"examples": [SUMMARY_EXAMPLE]})

    summary_id: str
    session_id: str
    covers_through_message_id: str = Field(
        ..., description="The last message it covers: it stands for the path down to it"
    )
    covered_messages: int = Field(..., description="How many messages of that path it covers")
    text: str
    model: str | None = Field(None, description="The model that wrote it")
    token_usage: TokenUsage | None = Field(None, description="What writing it cost")
    previous_summary_id: str | None = Field(
        None, description="The summary it extends; null for the first"
    )
    created_at: datetime


class SummaryPage(BaseModel):
    """A session's summaries, newest first."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [SUMMARY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[SummaryPublic]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next (older) page; null on the last"
    )
