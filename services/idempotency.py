"""Idempotency-Key: a POST sent again (a retry after a timeout or a dropped
connection) gets the original result instead of doing the work twice.

A key is claimed inside the same write transaction as the work it guards
(`find_original` first, `record` last): the key is stored exactly when its result
is, and a repeat that arrives while the original runs waits on SQLite's write lock
(on PostgreSQL, whose transactions run side by side, on a transaction-scoped advisory
lock taken on the key first) and then finds it. A repeat with another body is a
client bug and gets 422. Keys live IDEMPOTENCY_TTL_HOURS (24 by default), are kept
across restarts (they are rows) and purged with expired sessions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite

from models.auth import Caller
from models.idempotency import idempotency_table
from models.types import utcnow
from services.errors import IdempotencyKeyReused
from services.storage import Database, rows_changed

K = idempotency_table.c
T = TypeVar("T")
# Held until the transaction ends: a repeat waits here for the original's commit.
_KEY_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))")


@dataclass(frozen=True, slots=True)
class Replayable(Generic[T]):
    """A result, and whether it is the stored one of an earlier identical request."""

    value: T
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """One request's key: where it was sent, and what it asked (the fingerprint)."""

    scope: str
    key: str
    fingerprint: str
    expires_after: timedelta


class Repeated(Exception):
    """Raised inside the write transaction when the key's original is found: the
    transaction rolls back (it wrote nothing) and the caller serves the original."""

    def __init__(self, row: Any) -> None:
        super().__init__(row.key)
        self._message_id: str | None = row.message_id
        self._response: dict[str, Any] | None = row.response

    def turn_id(self) -> str:
        """The assistant message of the turn a chat request's key began."""
        assert self._message_id is not None, "a chat key always names its turn"
        return self._message_id

    def stored_response(self) -> dict[str, Any]:
        """The response body kept with a key whose result is not read back from rows."""
        assert self._response is not None, "this key's work stored its response"
        return self._response


class _LostRace(Exception):
    """Another transaction recorded the same key first (PostgreSQL); try once more."""


def claim(
    scope: str, key: str | None, body: BaseModel | None, ttl_hours: float, caller: Caller
) -> IdempotencyClaim | None:
    """The claim of a request that sent a key; None without one. Keys are per API
    key: another key's identical Idempotency-Key is another request."""
    if key is None:
        return None
    if caller.name is not None:
        scope = f"{scope}|{caller.name}"
    canonical = json.dumps(
        body.model_dump(mode="json") if body is not None else None,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    fingerprint = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return IdempotencyClaim(scope, key, fingerprint, timedelta(hours=ttl_hours))


def find_original(db: Connection, claim: IdempotencyClaim, now: datetime) -> None:
    """Raise Repeated when this key already did its work, IdempotencyKeyReused when it
    did other work; an expired key is forgotten first."""
    if db.dialect.name == "postgresql":
        db.execute(_KEY_LOCK, {"name": f"idempotency:{claim.scope}:{claim.key}"})
    this_key = (K.scope == claim.scope) & (K.key == claim.key)
    db.execute(delete(idempotency_table).where(this_key, K.expires_at <= now))
    row = db.execute(select(idempotency_table).where(this_key)).first()
    if row is None:
        return
    if row.fingerprint != claim.fingerprint:
        raise IdempotencyKeyReused(claim.key, claim.scope)
    raise Repeated(row)


def record(
    db: Connection,
    claim: IdempotencyClaim,
    now: datetime,
    session_id: str,
    **result: Any,
) -> None:
    """Store the key with what its work created (in the work's transaction)."""
    values = {
        "scope": claim.scope,
        "key": claim.key,
        "fingerprint": claim.fingerprint,
        "session_id": session_id,
        "created_at": now,
        "expires_at": now + claim.expires_after,
        **result,
    }
    dialect_insert = postgresql.insert if db.dialect.name == "postgresql" else sqlite.insert
    inserted = db.execute(dialect_insert(idempotency_table).values(values).on_conflict_do_nothing())
    if inserted.rowcount != 1:
        raise _LostRace()


async def once_per_key(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a keyed write; when another request recorded the key between our check and
    our insert (only possible where writers run in parallel), run it again: the
    second attempt finds that request's result."""
    try:
        return await attempt()
    except _LostRace:
        return await attempt()


async def purge_expired_keys(database: Database) -> int:
    return await database.write(
        rows_changed, delete(idempotency_table).where(K.expires_at <= utcnow())
    )
