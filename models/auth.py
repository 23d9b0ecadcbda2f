"""API keys, the caller a request acts for, and the audit trail of security events.

A key is `cbk_<key_id>_<secret>`: the key_id (public, shown by `keys list`) finds
the row, and only the SHA-256 of the whole key is stored. The secret has 256 bits
of entropy, so a fast hash is enough (slow hashes exist for guessable passwords)
and checking a key costs microseconds per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, Index, Table
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from models.types import UTCDateTime

KEY_PREFIX = "cbk_"
KEY_ID_CHARS = 12
MAX_KEY_NAME_CHARS = 40
KEY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"


class ApiKeyRecord(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_name", "name"),)

    key_id: str = TableField(primary_key=True, max_length=KEY_ID_CHARS)
    # The owner of the sessions this key creates; one live key per name at a time.
    name: str = TableField(max_length=MAX_KEY_NAME_CHARS)
    key_hash: str = TableField(max_length=64)
    admin: bool = False
    created_at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = TableField(default=None, sa_column=Column(UTCDateTime()))


class AuditRecord(SQLModel, table=True):
    """Who created, deleted or exported which session, and key changes; never content."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_session_id", "session_id"),)

    id: int | None = TableField(default=None, primary_key=True)
    at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = TableField(max_length=MAX_KEY_NAME_CHARS + 8)
    action: str = TableField(max_length=32)
    session_id: str | None = TableField(default=None, max_length=36)
    key_name: str | None = TableField(default=None, max_length=MAX_KEY_NAME_CHARS)
    request_id: str | None = TableField(default=None, max_length=128)


api_keys_table: Table = ApiKeyRecord.__table__  # type: ignore[attr-defined]
audit_table: Table = AuditRecord.__table__  # type: ignore[attr-defined]

ANONYMOUS_ACTOR = "anonymous"  # AUTH_MODE=none
CLI_ACTOR = "cli"  # `python main.py keys ...`


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom a request acts for: a key's name (the owner of the sessions it creates),
    whether that key is an admin, and the request's id for the audit trail.

    With AUTH_MODE=none every request is the anonymous caller, who sees everything.
    """

    name: str | None
    admin: bool
    request_id: str | None = None

    @property
    def actor(self) -> str:
        return self.name or ANONYMOUS_ACTOR


def anonymous(request_id: str | None = None) -> Caller:
    return Caller(None, admin=True, request_id=request_id)


class KeyInfo(BaseModel):
    """A key as `keys list` shows it: never the key itself."""

    key_id: str
    name: str
    admin: bool
    created_at: datetime
    revoked_at: datetime | None


AUDIT_EXAMPLE: dict[str, Any] = {
    "id": 42,
    "at": "2026-11-21T10:00:00Z",
    "actor": "alice",
    "action": "session.create",
    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
    "key_name": None,
    "request_id": "4b1d2c3e5f6a7b8c9d0e1f2a3b4c5d6e",
}


class AuditEvent(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [AUDIT_EXAMPLE]})

    id: int
    at: datetime
    actor: str = Field(description="The key's name; `anonymous` (AUTH_MODE=none) or `cli`")
    action: str = Field(
        description="session.create, session.delete, session.export, key.create, key.revoke"
    )
    session_id: str | None = None
    key_name: str | None = Field(None, description="The key a key.* event is about")
    request_id: str | None = None


class AuditPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [AUDIT_EXAMPLE], "next_cursor": "41"}]}
    )

    items: list[AuditEvent]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for older events; null on the last page"
    )
