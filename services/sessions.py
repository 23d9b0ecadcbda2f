"""Sessions: create, read, list, update, delete, and expiry.

A session is alive while it has been accessed within SESSION_TIMEOUT_HOURS; an
expired one answers 404 like a deleted one, and `purge_expired` removes it (its
messages go with it through the foreign-key cascade). Reading a session or its
history counts as access; while the database refuses writes (disk full) such reads
are still answered, without the mark.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from models.auth import Caller
from models.message import messages_table
from models.session import (
    SessionCreate,
    SessionPage,
    SessionPublic,
    SessionUpdate,
    sessions_table,
)
from models.types import utcnow
from services.errors import DatabaseUnavailable, SessionNotFound
from services.idempotency import (
    Repeated,
    Replayable,
    once_per_key,
)
from services.idempotency import (
    claim as idempotency_claim,
)
from services.memory.counting import Count, TokenCounter, system_count_values
from services.memory.window import ChatMessage
from services.search.indexer import SearchIndexer
from services.session_list import SessionQuery, page_of, page_statement
from services.session_writes import (
    append_to_path,
    create_claimed,
    delete_audited,
    insert_session_with_history,
    update_checked,
)
from services.storage import Database, rows_changed

log = logging.getLogger(__name__)
S = sessions_table.c
SESSION_SCOPE = "session"


class SessionService:
    def __init__(
        self,
        database: Database,
        timeout_hours: float,
        key_hours: float = 24.0,
        counter: TokenCounter | None = None,
    ) -> None:
        self.database = database
        self.timeout_hours = timeout_hours
        self.key_hours = key_hours  # how long an Idempotency-Key is remembered
        self.counter = counter  # counts a system prompt once, when it is set
        # Brings SQLite's search index up to date before a list with `q`.
        self.indexer: SearchIndexer | None = None

    async def _system_count(self, system_prompt: str | None) -> Count | None:
        """The system prompt's count; None (estimated when a window needs it) when the
        LLM server cannot count now: a session never waits on the LLM server."""
        if self.counter is None:
            return None
        return await self.counter.count_if_possible(system_prompt)

    def _cutoff(self, now: datetime) -> datetime | None:
        """Sessions last accessed before this have expired; None when they never do."""
        if self.timeout_hours <= 0:
            return None
        return now - timedelta(hours=self.timeout_hours)

    def alive(self, now: datetime) -> ColumnElement[bool]:
        """SQL condition: the session has not expired at `now`."""
        cutoff = self._cutoff(now)
        return true() if cutoff is None else S.last_accessed >= cutoff

    def visibility(self, caller: Caller, now: datetime) -> Visibility:
        """`visible`'s condition as values, for the statements a turn builds once."""
        return Visibility(self._cutoff(now), caller.name, caller.admin)

    def visible(self, caller: Caller, now: datetime) -> ColumnElement[bool]:
        """SQL condition: the session is alive and the caller's: its own key's, or any
        for an admin key (and with AUTH_MODE=none). Another key's session is exactly
        as absent as a missing one."""
        if caller.admin:
            return self.alive(now)
        return and_(self.alive(now), S.owner == caller.name)

    def visible_message(
        self, message_id: str, caller: Caller, *columns: ColumnElement[Any]
    ) -> Select[Any]:
        """`columns` of message `message_id` when the caller may see its session:
        another key's message is exactly as absent as a missing one."""
        return visible_message(message_id, self.visible(caller, utcnow()), *columns)

    async def require_visible(self, db: AsyncConnection, session_id: str, caller: Caller) -> None:
        """SessionNotFound unless the session exists, is alive and is the caller's."""
        query = select(S.session_id).where(
            S.session_id == session_id, self.visible(caller, utcnow())
        )
        if (await db.execute(query)).first() is None:
            raise SessionNotFound(session_id)

    async def create(
        self,
        caller: Caller,
        metadata: dict[str, Any] | None = None,
        system_prompt: str | None = None,
        profile_id: str | None = None,
        labels: dict[str, Any] | None = None,
    ) -> SessionPublic:
        return await self.create_with_history(
            caller, (), metadata, system_prompt, profile_id, labels
        )

    async def create_with_history(
        self,
        caller: Caller,
        history: Sequence[ChatMessage],
        metadata: dict[str, Any] | None = None,
        system_prompt: str | None = None,
        profile_id: str | None = None,
        labels: dict[str, Any] | None = None,
    ) -> SessionPublic:
        """A new session holding `history` (oldest first) as its path."""
        count = await self._system_count(system_prompt)
        insert = partial(
            insert_session_with_history, system_count=count, profile_id=profile_id, labels=labels
        )
        return await self.database.write(insert, caller, metadata or {}, system_prompt, history)

    async def append(
        self,
        session_id: str,
        caller: Caller,
        history: Sequence[ChatMessage],
        below: str | None = None,
    ) -> list[str]:
        """Add messages (oldest first) at the end of the active path, or below the
        message `below` (which becomes the path they end)."""
        visible = self.visible(caller, utcnow())
        return await self.database.write(append_to_path, session_id, visible, history, below)

    async def create_once(
        self, body: SessionCreate, key: str | None, caller: Caller
    ) -> Replayable[SessionPublic]:
        """create(), or with an Idempotency-Key this caller used here the session it created."""
        claim = idempotency_claim(SESSION_SCOPE, key, body, self.key_hours, caller)
        if claim is None:
            session = await self.create(
                caller, body.metadata, body.system_prompt, body.profile_id, body.labels()
            )
            return Replayable(session)
        count = await self._system_count(body.system_prompt)
        create = partial(create_claimed, caller, body, count)
        try:
            return Replayable(await once_per_key(lambda: self.database.write(create, claim)))
        except Repeated as repeat:
            return Replayable(SessionPublic(**repeat.stored_response()), replayed=True)

    async def get(self, session_id: str, caller: Caller) -> SessionPublic:
        """The session, marked as accessed now; 404 when missing, expired or another's."""
        try:
            return await self._update(session_id, caller, {})
        except DatabaseUnavailable as exc:  # a full disk should not hide the history too
            log.warning("session %s read without marking it accessed: %s", session_id, exc)
        return await self._read(session_id, caller)

    async def _read(self, session_id: str, caller: Caller) -> SessionPublic:
        query = select(sessions_table).where(
            S.session_id == session_id, self.visible(caller, utcnow())
        )
        async with self.database.read() as db:
            row = (await db.execute(query)).mappings().first()
        if row is None:
            raise SessionNotFound(session_id)
        return SessionPublic(**row)

    async def update(self, session_id: str, caller: Caller, body: SessionUpdate) -> SessionPublic:
        """The fields the body gives; `profile_id: null` takes the profile away."""
        changes: dict[str, Any] = {}
        if body.metadata is not None:
            changes["metadata"] = body.metadata
        if body.system_prompt is not None:
            changes["system_prompt"] = body.system_prompt
            changes |= system_count_values(await self._system_count(body.system_prompt))
        if "profile_id" in body.model_fields_set:
            changes["profile_id"] = body.profile_id
        changes |= body.labels()
        if "title" in body.model_fields_set:
            changes["title"] = body.title  # null takes it away (the LLM may write another)
        return await self._update(session_id, caller, changes)

    async def delete(self, session_id: str, caller: Caller) -> None:
        """Delete the session (its messages go by cascade), in the audit trail."""
        statement = delete(sessions_table).where(
            S.session_id == session_id, self.visible(caller, utcnow())
        )
        if not await self.database.write(delete_audited, statement, caller, session_id):
            raise SessionNotFound(session_id)

    async def list_page(self, query: SessionQuery, caller: Caller) -> SessionPage:
        """The caller's sessions (an admin's: all), filtered and sorted as `query`
        asks (services/session_list.py), keyset-paginated."""
        visible = self.visible(caller, utcnow())
        statement = page_statement(query, self.database.engine.dialect.name, visible)
        if query.q is not None and self.indexer is not None:
            await self.indexer.catch_up()
        async with self.database.read() as db:
            rows = (await db.execute(statement)).mappings().all()
        return page_of([dict(row) for row in rows], query)

    async def purge_expired(self) -> int:
        """Delete expired sessions (and, by cascade, their messages); returns the count."""
        cutoff = self._cutoff(utcnow())
        if cutoff is None:
            return 0
        return await self.database.write(
            rows_changed, delete(sessions_table).where(S.last_accessed < cutoff)
        )

    async def _update(
        self, session_id: str, caller: Caller, changes: dict[str, Any]
    ) -> SessionPublic:
        now = utcnow()
        statement = (
            update(sessions_table)
            .where(S.session_id == session_id, self.visible(caller, now))
            .values(last_accessed=now, **changes)
            .returning(sessions_table)
        )
        row = await self.database.write(
            update_checked, statement, caller, changes.get("profile_id")
        )
        if row is None:
            raise SessionNotFound(session_id)
        return SessionPublic(**row)


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which sessions a caller may see, as bound values: those accessed since
    `cutoff` (None: sessions never expire), and unless `admin` (an admin key, and
    every request with AUTH_MODE=none) only those owned by `owner`.
    SessionService.visible as parameters."""

    cutoff: datetime | None
    owner: str | None
    admin: bool

    @property
    def shape(self) -> tuple[bool, bool]:
        """Which conditions apply: (expiry, owner); a statement is built per shape."""
        return self.cutoff is not None, not self.admin

    def params(self) -> dict[str, Any]:
        return {"v_cutoff": self.cutoff, "v_owner": self.owner}


def visibility_conditions(expiry: bool, owner: bool) -> list[ColumnElement[bool]]:
    """A Visibility shape's conditions on the sessions table, with bound parameters
    `v_cutoff` and `v_owner` (Visibility.params)."""
    conditions: list[ColumnElement[bool]] = []
    if expiry:
        conditions.append(S.last_accessed >= bindparam("v_cutoff"))
    if owner:
        conditions.append(S.owner == bindparam("v_owner"))
    return conditions


def visible_message(
    message_id: str, visible: ColumnElement[bool], *columns: ColumnElement[Any]
) -> Select[Any]:
    """`columns` of message `message_id` when its session meets `visible`."""
    return (
        select(*columns)
        .join(sessions_table, S.session_id == messages_table.c.session_id)
        .where(messages_table.c.message_id == message_id, visible)
    )
