"""The write transactions of sessions: a new session (also a turn's or a fork's, inside
their transactions), a change checked against the caller's profiles, a delete in the
audit trail, a creation under an Idempotency-Key."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.sql import Executable

from models.auth import Caller
from models.message import MessageStatus, messages_table
from models.session import ForkOrigin, SessionCreate, SessionPublic, sessions_table
from models.types import utcnow
from services.audit import record_event
from services.idempotency import IdempotencyClaim, find_original, record
from services.memory.counting import Count, system_count_values
from services.profiles.access import require_profile
from services.storage import first_row, rows_changed

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
) -> SessionPublic:
    """Insert a new session of the caller's key, and its audit event, inside the
    transaction `db`. InvalidProfile unless the caller may use `profile_id`."""
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
    }
    db.execute(INSERT_SESSION, values | system_count_values(system_count))
    record_event(db, caller, "session.create", session_id)
    return SessionPublic(**values)


def insert_session_with_history(
    db: Connection,
    caller: Caller,
    metadata: dict[str, Any],
    system_prompt: str | None,
    history: Sequence[tuple[str, str]],
    *,
    system_count: Count | None = None,
    profile_id: str | None = None,
) -> SessionPublic:
    """A new session that already holds `history` ((role, text) pairs, oldest first)
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
    )
    rows = [
        {
            "message_id": message_id,
            "session_id": session.session_id,
            "seq": position,
            "parent_id": ids[position - 2] if position > 1 else None,
            "role": role,
            "content": text,
            "status": MessageStatus.COMPLETE,
            "created_at": session.created_at,
        }
        for position, (message_id, (role, text)) in enumerate(
            zip(ids, history, strict=True), start=1
        )
    ]
    if rows:
        db.execute(insert(messages_table), rows)
    return session


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
    )
    record(db, claim, now, session.session_id, response=session.model_dump(mode="json"))
    return session
