"""The chat session: its table and its API shapes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)
from sqlalchemy import JSON, Column, Index, Table, false
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from models.auth import MAX_KEY_NAME_CHARS
from models.text import Text, json_bytes
from models.types import UTCDateTime

MAX_METADATA_BYTES = 16 * 1024
MAX_SYSTEM_PROMPT_CHARS = 32000
MAX_TITLE_CHARS = 200


class SessionRecord(SQLModel, table=True):
    """One conversation. `last_seq` hands out message positions without a scan."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_last_accessed", "last_accessed", "session_id"),
        Index("ix_sessions_owner", "owner", "last_accessed", "session_id"),
        Index("ix_sessions_owner_created", "owner", "created_at", "session_id"),
        Index("ix_sessions_import", "owner", "import_key", unique=True),
    )

    session_id: str = TableField(primary_key=True, max_length=36)
    created_at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))
    last_accessed: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))
    meta: dict[str, Any] = TableField(
        default_factory=dict, sa_column=Column("metadata", JSON, nullable=False)
    )
    system_prompt: str | None = None
    message_count: int = 0
    last_seq: int = 0
    # The name of the API key that created it; None with AUTH_MODE=none.
    owner: str | None = TableField(default=None, max_length=MAX_KEY_NAME_CHARS)
    # The newest message of the active path (models/message.py); None before a turn.
    active_leaf_id: str | None = TableField(default=None, max_length=36)
    # A fork's source: the session and the message its copied path ended at.
    forked_from_session_id: str | None = TableField(default=None, max_length=36)
    forked_from_message_id: str | None = TableField(default=None, max_length=36)
    # The system prompt's tokens, counted when it was set, and by what (as a message's).
    system_prompt_tokens: int | None = None
    system_prompt_counter: str | None = TableField(default=None, max_length=300)
    # Its chat profile (models/profile.py). No foreign key: SQLite cannot add one to
    # an existing table without rebuilding it, and a rebuild's DROP would cascade to
    # every message; the profile's delete clears it in the same transaction instead.
    profile_id: str | None = TableField(default=None, max_length=36)
    # Set by PATCH, or written by the LLM after the first exchange (services/titles.py)
    # while it is still None. Full-text indexed with the messages (models/search.py).
    title: str | None = TableField(default=None, max_length=MAX_TITLE_CHARS)
    pinned: bool = TableField(default=False, sa_column_kwargs={"server_default": false()})
    archived: bool = TableField(default=False, sa_column_kwargs={"server_default": false()})
    # An imported session: a digest of the conversation it came from (services/imports/).
    import_key: str | None = TableField(default=None, max_length=64)


SESSION_EXAMPLE: dict[str, Any] = {
    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
    "created_at": "2026-11-21T10:00:00Z",
    "last_accessed": "2026-11-21T10:05:00Z",
    "metadata": {"user_id": "example"},
    "system_prompt": None,
    "message_count": 4,
    "owner": "alice",
    "active_leaf_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "forked_from": None,
    "profile_id": None,
    "title": "Planning a trip to Busan",
    "pinned": False,
    "archived": False,
}
sessions_table: Table = SessionRecord.__table__  # type: ignore[attr-defined]


def _check_metadata_size(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and json_bytes(value) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return value


class SessionCreate(BaseModel):
    """Body of POST /api/sessions; both fields optional, the body itself too."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"metadata": {"user_id": "example"}, "system_prompt": "You answer briefly."}
            ]
        },
    )

    metadata: dict[str, Any] | None = Field(
        None, description="Free-form JSON object, at most 16 KiB"
    )
    system_prompt: Text | None = Field(
        None,
        max_length=MAX_SYSTEM_PROMPT_CHARS,
        description="Sent first in every context window of this session",
    )
    profile_id: Text | None = Field(
        None,
        description="A chat profile of the caller (POST /api/profiles): the session's"
        " defaults for the fields it does not set itself",
    )
    title: Text | None = Field(
        None,
        min_length=1,
        max_length=MAX_TITLE_CHARS,
        description="Shown in session lists and searched by `q`; without one, the LLM"
        " writes one after the first exchange (AUTO_TITLE)",
    )
    pinned: StrictBool | None = Field(None, description="Listed apart (`pinned=true`) by clients")
    archived: StrictBool | None = Field(
        None, description="Hidden from GET /api/sessions unless `archived=true` is asked"
    )

    _metadata_size = field_validator("metadata")(_check_metadata_size)

    def labels(self) -> dict[str, Any]:
        """The title, pinned and archived the body sets, as column values."""
        labels = {"title": self.title, "pinned": self.pinned, "archived": self.archived}
        return {name: value for name, value in labels.items() if value is not None}


class SessionUpdate(SessionCreate):
    """Body of PATCH /api/sessions/{id}; a field left out stays as it is,
    `profile_id: null` takes the session's profile away and `title: null` its title."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"metadata": {"topic": "travel"}},
                {"title": "Trip to Busan", "pinned": True},
                {"archived": True},
            ]
        },
    )


class ForkOrigin(BaseModel):
    """Where a forked session was copied from."""

    session_id: str = Field(..., description="The session forked (it may be gone since)")
    message_id: str = Field(..., description="The message its copied path ended at")


class SessionPublic(BaseModel):
    """A session as clients see it."""

    model_config = ConfigDict(json_schema_extra={"examples": [SESSION_EXAMPLE]})

    session_id: str
    created_at: datetime
    last_accessed: datetime
    metadata: dict[str, Any]
    system_prompt: str | None = None
    message_count: int
    owner: str | None = Field(
        None, description="Name of the API key that created it; null without AUTH_MODE=api_key"
    )
    active_leaf_id: str | None = Field(
        None,
        description="The newest message of the active path: the history is the path from"
        " the first message down to it. Null before the first turn",
    )
    forked_from: ForkOrigin | None = Field(
        None, description="For a fork (POST /api/sessions/{id}/fork): what it copied"
    )
    profile_id: str | None = Field(None, description="Its chat profile, if any")
    title: str | None = Field(
        None, description="Set by PATCH, or written by the LLM after the first exchange"
    )
    pinned: bool = False
    archived: bool = Field(False, description="Hidden from the session list by default")

    @model_validator(mode="before")
    @classmethod
    def _fork_origin(cls, data: Any) -> Any:
        """A stored row keeps the origin in two columns; clients see one object."""
        if not isinstance(data, Mapping) or "forked_from_session_id" not in data:
            return data
        fields = dict(data)
        session_id = fields.pop("forked_from_session_id")
        message_id = fields.pop("forked_from_message_id", None)
        if session_id is not None:
            fields["forked_from"] = {"session_id": session_id, "message_id": message_id}
        return fields


class ForkRequest(BaseModel):
    """Body of POST /api/sessions/{id}/fork."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f"}]},
    )

    message_id: Text = Field(
        ..., description="A message of the session: the fork's history is the path up to it"
    )


class SessionPage(BaseModel):
    """One page of the session list, newest-accessed first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [SESSION_EXAMPLE],
                    "next_cursor": "WyIyMDI2LTExLTIxVDEwOjA1OjAwKzAwOjAwIiwgIjNmMmIuLi4iXQ",
                }
            ]
        }
    )

    items: list[SessionPublic]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page"
    )
