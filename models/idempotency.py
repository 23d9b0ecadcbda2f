"""Idempotency keys: what a POST with an `Idempotency-Key` header created.

A repeat of the request (a client retrying after a timeout or a dropped connection)
finds the row and gets the original result instead of a second session, message or
LLM call. The row is written in the same transaction as what it points to, so a key
is recorded exactly when its result is. Rows expire (`expires_at`) and are purged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Table
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from models.types import UTCDateTime

MAX_KEY_CHARS = 255


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)

    # The route the key was sent to: one key may be used once per route.
    scope: str = TableField(primary_key=True, max_length=64)
    key: str = TableField(primary_key=True, max_length=MAX_KEY_CHARS)
    # sha256 of the request body as validated: a repeat must be the same request.
    fingerprint: str = TableField(max_length=64)
    session_id: str = TableField(max_length=36)
    user_message_id: str | None = TableField(default=None, max_length=36)
    message_id: str | None = TableField(default=None, max_length=36)
    # The whole response, for results that are not read back from their rows.
    response: dict[str, Any] | None = TableField(default=None, sa_column=Column(JSON))
    created_at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))


idempotency_table: Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
