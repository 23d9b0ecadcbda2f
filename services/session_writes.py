"""The write transactions of sessions: a new session (also a turn's or a fork's, inside
their transactions), a change checked against the caller's profiles, a delete in the
audit trail, a creation under an Idempotency-Key."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, insert, select, update
from sqlalchemy.sql import Executable

from models.auth import Caller
from models.message import GENERATING, MessageStatus, messages_table
from models.session import ForkOrigin, SessionCreate, SessionPublic, sessions_table
from models.types import utcnow
from services.audit import record_event
from services.errors import SessionNotFound, TurnInProgress
from services.idempotency import IdempotencyClaim, find_original, record
from services.memory.counting import Count, system_count_values
from services.memory.window import ChatMessage
from services.profiles.access import require_profile
from services.storage import first_row, rows_changed

S = sessions_table.c
M = messages_table.c
# Built once (its values are parameters): built per session it cost more than it ran.
INSERT_SESSION = insert(sessions_table)


def insert_session(
    db: Connection,
    caller: Caller,
    metadata: dict[str, Any],
    system_prompt: str | None,
    *,
    message_count: int = 0,
    last_seq: int = 0,
    active_leaf_id: str | None = None,
    forked_from: ForkOrigin | None = None,
    system_count: Count | None = None,
    profile_id: str | None = None,
    labels: Mapping[str, Any] | None = None,
) -> SessionPublic:
    """Insert a new session of the caller's key, and its audit event, inside the
    transaction `db`. InvalidProfile unless the caller may use `profile_id`.
    `labels`: its title, pinned and archived when set (SessionCreate.labels); for
    an import also its original `created_at` and its `import_key`."""
    if profile_id is not None:
        require_profile(db, caller, profile_id)
    now = utcnow()
    session_id = str(uuid.uuid4())
    values = {
        "session_id": session_id,
        "created_at": now,
        "last_accessed": now,
        "metadata": metadata,
        "system_prompt": system_prompt,
        "message_count": message_count,
        "last_seq": last_seq,
        "owner": caller.name,
        "active_leaf_id": active_leaf_id,
        "forked_from_session_id": forked_from.session_id if forked_from else None,
        "forked_from_message_id": forked_from.message_id if forked_from else None,
        "profile_id": profile_id,
        **(labels or {}),
    }
    db.execute(INSERT_SESSION, values | system_count_values(system_count))
    record_event(db, caller, "session.create", session_id)
    return SessionPublic(**values)


def insert_session_with_history(
    db: Connection,
    caller: Caller,
    metadata: dict[str, Any],
    system_prompt: str | None,
    history: Sequence[ChatMessage],
    *,
    system_count: Count | None = None,
    profile_id: str | None = None,
    labels: Mapping[str, Any] | None = None,
) -> SessionPublic:
    """A new session that already holds `history` (messages, oldest first)
    as its active path: a conversation brought in whole, such as the messages of an
    OpenAI request that names no session. Their counts are left to the estimate
    until a counter meets them."""
    ids = [str(uuid.uuid4()) for _ in history]
    session = insert_session(
        db,
        caller,
        metadata,
        system_prompt,
        message_count=len(ids),
        last_seq=len(ids),
        active_leaf_id=ids[-1] if ids else None,
        system_count=system_count,
        profile_id=profile_id,
        labels=labels,
    )
    rows = _chain(session.session_id, ids, history, 1, None, session.created_at)
    if rows:
        db.execute(insert(messages_table), rows)
    return session


def append_to_path(
    db: Connection,
    session_id: str,
    visible: ColumnElement[bool],
    history: Sequence[ChatMessage],
    below: str | None = None,
) -> list[str]:
    """Add `history` (messages, oldest first) below the session's active leaf (or
    the message `below`, one of the session's), as the active path's new end; their
    ids. SessionNotFound unless the session is visible;
    TurnInProgress while a reply is being generated there (it would end up above
    the new messages)."""
    found = db.execute(
        select(S.active_leaf_id, S.last_seq).where(S.session_id == session_id, visible)
    ).first()
    if found is None:
        raise SessionNotFound(session_id)
    busy = db.execute(
        select(M.message_id).where(M.session_id == session_id, GENERATING).limit(1)
    ).first()
    if busy is not None:
        raise TurnInProgress(session_id, busy.message_id)
    ids = [str(uuid.uuid4()) for _ in history]
    now = utcnow()
    first_seq = found.last_seq + 1
    db.execute(
        insert(messages_table),
        _chain(session_id, ids, history, first_seq, below or found.active_leaf_id, now),
    )
    db.execute(
        update(sessions_table)
        .where(S.session_id == session_id)
        .values(
            active_leaf_id=ids[-1],
            last_seq=S.last_seq + len(ids),
            message_count=S.message_count + len(ids),
            last_accessed=now,
        )
    )
    return ids


def _chain(
    session_id: str,
    ids: list[str],
    history: Sequence[ChatMessage],
    first_seq: int,
    parent_id: str | None,
    created_at: datetime,
) -> list[dict[str, Any]]:
    """Message rows, each the child of the one before (the first of `parent_id`)."""
    parents = [parent_id, *ids][: len(ids)]
    return [
        {
            "message_id": message_id,
            "session_id": session_id,
            "seq": seq,
            "parent_id": parent,
            "role": message.role,
            "content": message.content,
            "status": MessageStatus.COMPLETE,
            "created_at": created_at,
            "tool_calls": message.tool_calls,
            "tool_results": message.tool_results,
        }
        for seq, message_id, parent, message in zip(
            range(first_seq, first_seq + len(ids)), ids, parents, history, strict=True
        )
    ]


def update_checked(
    db: Connection, statement: Executable, caller: Caller, profile_id: str | None
) -> dict[str, Any] | None:
    """The session's row after the update; a profile it is given checked first."""
    if profile_id is not None:
        require_profile(db, caller, profile_id)
    return first_row(db, statement)


def delete_audited(db: Connection, statement: Executable, caller: Caller, session_id: str) -> bool:
    deleted = rows_changed(db, statement) > 0
    if deleted:
        record_event(db, caller, "session.delete", session_id)
    return deleted


def create_claimed(
    caller: Caller,
    body: SessionCreate,
    count: Count | None,
    db: Connection,
    claim: IdempotencyClaim,
) -> SessionPublic:
    now = utcnow()
    find_original(db, claim, now)
    session = insert_session(
        db,
        caller,
        body.metadata or {},
        body.system_prompt,
        system_count=count,
        profile_id=body.profile_id,
        labels=body.labels(),
    )
    record(db, claim, now, session.session_id, response=session.model_dump(mode="json"))
    return session
