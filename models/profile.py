"""Chat profiles (the design notes' "chatflow"): a named, reusable turn configuration.

A session may name one (`profile_id`); its turns then take each field from the
request, else the session, else the profile, else the service's setting. Profiles
are owned like sessions (per API key; admins see all) and their names are unique per
owner. Tags live in their own table so that a tag filter is an indexed lookup on
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import JSON, Column, ForeignKey, Index, String, Table
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from models.auth import MAX_KEY_NAME_CHARS
from models.numbers import JsonInt
from models.session import MAX_SYSTEM_PROMPT_CHARS
from models.text import Text
from models.types import UTCDateTime

MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_TAGS = 20
MAX_TAG_CHARS = 50
MAX_MODEL_CHARS = 300
MemoryType = Literal["buffer", "summary"]


class ProfileRecord(SQLModel, table=True):
    __tablename__ = "profiles"
    __table_args__ = (
        # Names are unique per owner.
        Index("uq_profiles_owner_name", "owner", "name", unique=True),
        Index("ix_profiles_owner_updated", "owner", "updated_at", "profile_id"),
    )

    profile_id: str = TableField(primary_key=True, max_length=36)
    # The API key's name; "" with AUTH_MODE=none (so that the unique index holds:
    # NULLs are distinct in one). Clients see null for "".
    owner: str = TableField(default="", max_length=MAX_KEY_NAME_CHARS)
    name: str = TableField(max_length=MAX_NAME_CHARS)
    description: str | None = None
    system_prompt: str | None = None
    system_prompt_tokens: int | None = None
    system_prompt_counter: str | None = TableField(default=None, max_length=300)
    model: str | None = TableField(default=None, max_length=MAX_MODEL_CHARS)
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    memory: dict[str, Any] | None = TableField(default=None, sa_column=Column(JSON))
    tags: list[str] = TableField(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))


class ProfileTagRecord(SQLModel, table=True):
    __tablename__ = "profile_tags"
    __table_args__ = (Index("ix_profile_tags_tag", "tag", "profile_id"),)

    profile_id: str = TableField(
        sa_column=Column(
            String(36),
            ForeignKey("profiles.profile_id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    tag: str = TableField(primary_key=True, max_length=MAX_TAG_CHARS)


profiles_table: Table = ProfileRecord.__table__  # type: ignore[attr-defined]
profile_tags_table: Table = ProfileTagRecord.__table__  # type: ignore[attr-defined]


class MemoryConfig(BaseModel):
    """How a session's window is built (services/memory/)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: MemoryType = Field(
        "buffer",
        description="buffer: the newest messages that fit; summary: also a running summary"
        " of what no longer fits (SUMMARY_TRIGGER_TOKENS)",
    )
    max_messages: JsonInt | None = Field(
        None, ge=1, le=1000, description="History messages per window; default MAX_CONTEXT_MESSAGES"
    )
    max_context_tokens: JsonInt | None = Field(
        None, ge=1, description="Cap on the window's tokens; default MAX_CONTEXT_TOKENS"
    )


# A tag: 1 to 50 characters, none of them a line break, no space at either end.
Tag = Annotated[
    Text,
    StringConstraints(min_length=1, max_length=MAX_TAG_CHARS, pattern=r"^\S(?:.*\S)?$"),
]


def _once_each(tags: list[str] | None) -> list[str] | None:
    """Duplicates once, in the order given."""
    return None if tags is None else list(dict.fromkeys(tags))


class ProfileFields(BaseModel):
    """The settings a profile carries; every one optional."""

    model_config = ConfigDict(extra="forbid", strict=True)

    description: Text | None = Field(None, max_length=MAX_DESCRIPTION_CHARS)
    system_prompt: Text | None = Field(
        None, max_length=MAX_SYSTEM_PROMPT_CHARS, description="Unless the session has its own"
    )
    model: Text | None = Field(
        None,
        min_length=1,
        max_length=MAX_MODEL_CHARS,
        description="The upstream model, on servers that serve several (vLLM, Ollama)",
    )
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: JsonInt | None = Field(None, ge=1, le=32768, description="Reply length cap")
    memory: MemoryConfig | None = None
    tags: list[Tag] | None = Field(
        None, max_length=MAX_TAGS, description=f"At most {MAX_TAGS}, each a search filter"
    )

    _tags = field_validator("tags")(_once_each)


PROFILE_CREATE_EXAMPLE: dict[str, Any] = {
    "name": "travel-planner",
    "description": "Plans trips; remembers long conversations as summaries",
    "system_prompt": "You plan trips. Answer briefly.",
    "temperature": 0.4,
    "max_tokens": 300,
    "memory": {"type": "summary", "max_messages": 20},
    "tags": ["travel", "summary"],
}


class ProfileCreate(ProfileFields):
    """Body of POST /api/profiles."""

    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [PROFILE_CREATE_EXAMPLE]}
    )

    name: Text = Field(
        ..., min_length=1, max_length=MAX_NAME_CHARS, description="Unique among the owner's"
    )


class ProfileUpdate(ProfileFields):
    """Body of PATCH /api/profiles/{id}: a field left out stays; null clears it."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"temperature": 0.2, "tags": ["travel"]}]},
    )

    name: Text | None = Field(None, min_length=1, max_length=MAX_NAME_CHARS)


PROFILE_EXAMPLE: dict[str, Any] = PROFILE_CREATE_EXAMPLE | {
    "profile_id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
    "owner": "alice",
    "model": None,
    "top_p": None,
    "memory": {"type": "summary", "max_messages": 20, "max_context_tokens": None},
    "created_at": "2026-11-30T10:00:00Z",
    "updated_at": "2026-11-30T10:00:00Z",
}


class ProfilePublic(ProfileCreate):
    """A profile as clients see it."""

    model_config = ConfigDict(
        extra="ignore", strict=False, json_schema_extra={"examples": [PROFILE_EXAMPLE]}
    )

    profile_id: str
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class ProfilePage(BaseModel):
    """One page of profiles in the order asked for."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [PROFILE_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ProfilePublic]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` (with the same q, tag, sort, order); null on the last"
    )
