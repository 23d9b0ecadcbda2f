"""API keys: made and revoked by `python main.py keys ...`, checked on every request.

Only a key's SHA-256 is stored; `authenticate` finds the row by the key's public
id and compares the hashes with hmac.compare_digest, in constant time. The key's
name owns the sessions it creates: revoking a key and creating one of the same
name hands its sessions to the new key (rotation).

A worker keeps what it read of a key for API_KEY_CACHE_SECONDS (1 s): a read per
request was a third of what AUTH_MODE=api_key cost a turn (docs/BENCHMARKS.md). A
revocation made elsewhere (`keys revoke`, another worker) therefore takes up to that
long to reach a worker; one made through this process's KeyService, at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, insert, select, update

from models.auth import (
    KEY_ID_CHARS,
    KEY_NAME_PATTERN,
    KEY_PREFIX,
    MAX_KEY_NAME_CHARS,
    Caller,
    KeyInfo,
    api_keys_table,
)
from models.types import utcnow
from services.audit import record_event
from services.errors import ApiKeyRevoked, InvalidApiKey, KeyNameTaken
from services.storage import Database

K = api_keys_table.c
SECRET_BYTES = 32  # 256 bits
# Keys a worker remembers at most (a flood of made-up key ids is never remembered:
# only keys found are).
MAX_REMEMBERED_KEYS = 10_000
# A key by its public id (`k_id`): built once, read on a request's path.
KEY_BY_ID = select(K.name, K.admin, K.key_hash, K.revoked_at).where(K.key_id == bindparam("k_id"))


@dataclass(frozen=True, slots=True)
class _StoredKey:
    """What authenticate needs of a key's row, and when it was read (monotonic)."""

    name: str
    admin: bool
    key_hash: str
    revoked: bool
    read_at: float


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_id_of(key: str) -> str | None:
    """The public id inside a well-formed key; None for anything else."""
    if not key.startswith(KEY_PREFIX):
        return None
    key_id = key[len(KEY_PREFIX) : len(KEY_PREFIX) + KEY_ID_CHARS]
    separator = key[len(KEY_PREFIX) + KEY_ID_CHARS : len(KEY_PREFIX) + KEY_ID_CHARS + 1]
    return key_id if len(key_id) == KEY_ID_CHARS and separator == "_" else None


def check_name(name: str) -> str:
    if not (0 < len(name) <= MAX_KEY_NAME_CHARS and re.match(KEY_NAME_PATTERN, name)):
        raise ValueError(
            f"a key name is 1-{MAX_KEY_NAME_CHARS} letters, digits and . _ @ -, "
            f"starting with a letter or digit; got {name!r}"
        )
    return name


class KeyService:
    def __init__(self, database: Database, cache_seconds: float = 0.0) -> None:
        self.database = database
        self.cache_seconds = cache_seconds
        self._remembered: dict[str, _StoredKey] = {}

    async def create(self, name: str, admin: bool, by: Caller) -> tuple[str, KeyInfo]:
        """A new key (shown once, never stored) and its record."""
        check_name(name)
        key_id = secrets.token_hex(KEY_ID_CHARS // 2)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
        info = KeyInfo(key_id=key_id, name=name, admin=admin, created_at=utcnow(), revoked_at=None)
        await self.database.write(_insert_key, info, hash_key(key), by)
        return key, info

    async def all(self) -> list[KeyInfo]:
        async with self.database.read() as db:
            rows = (await db.execute(select(api_keys_table).order_by(K.created_at))).mappings()
            return [KeyInfo(**row) for row in rows]

    async def revoke(self, name: str, by: Caller) -> int:
        """Revoke the live key of this name; how many were revoked (0 or 1)."""
        revoked = await self.database.write(_revoke, name, by)
        self._remembered = {k: v for k, v in self._remembered.items() if v.name != name}
        return revoked

    async def authenticate(self, key: str) -> Caller:
        """The caller this key acts for; InvalidApiKey / ApiKeyRevoked otherwise."""
        key_id = key_id_of(key)
        if key_id is None:
            raise InvalidApiKey()
        stored = self._recalled(key_id) or await self._read(key_id)
        stored_hash = stored.key_hash if stored is not None else "0" * 64
        if not hmac.compare_digest(stored_hash, hash_key(key)) or stored is None:
            raise InvalidApiKey()
        if stored.revoked:
            raise ApiKeyRevoked()
        return Caller(stored.name, admin=stored.admin)

    def _recalled(self, key_id: str) -> _StoredKey | None:
        """The key as read less than cache_seconds ago, if it was."""
        stored = self._remembered.get(key_id)
        if stored is None or time.monotonic() - stored.read_at >= self.cache_seconds:
            return None
        return stored

    async def _read(self, key_id: str) -> _StoredKey | None:
        async with self.database.read() as db:
            row = (await db.execute(KEY_BY_ID, {"k_id": key_id})).first()
        if row is None:
            return None
        stored = _StoredKey(
            row.name, row.admin, row.key_hash, row.revoked_at is not None, time.monotonic()
        )
        if self.cache_seconds > 0:
            if len(self._remembered) >= MAX_REMEMBERED_KEYS:
                self._remembered.clear()
            self._remembered[key_id] = stored
        return stored


def _insert_key(db: Connection, info: KeyInfo, key_hash: str, by: Caller) -> None:
    live = select(K.key_id).where(K.name == info.name, K.revoked_at.is_(None))
    if db.execute(live).first() is not None:
        raise KeyNameTaken(info.name)
    db.execute(insert(api_keys_table).values(**info.model_dump(), key_hash=key_hash))
    action = "key.create_admin" if info.admin else "key.create"
    record_event(db, by, action, key_name=info.name)


def _revoke(db: Connection, name: str, by: Caller) -> int:
    statement = (
        update(api_keys_table)
        .where(K.name == name, K.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    revoked = db.execute(statement).rowcount
    if revoked:
        record_event(db, by, "key.revoke", key_name=name)
    return revoked
