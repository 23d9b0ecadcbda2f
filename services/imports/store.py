"""One imported conversation stored in one transaction: a new session, owned by the
caller, with every message under new ids and the same tree. A conversation imported
before, unchanged (its `import_key`), is found instead: a re-import of the same file
makes no second copy. An earlier copy that has expired is deleted first (the purge
would delete it soon anyway) and the conversation comes in anew: a duplicate must
point at a session the caller can open."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, insert, select

from models.auth import Caller
from models.message import messages_table
from models.session import sessions_table
from services.imports.conversation import Conversation, ImportedMessage
from services.session_writes import insert_session

S = sessions_table.c


@dataclass(frozen=True, slots=True)
class Stored:
    session_id: str
    messages: int
    new: bool  # False: the same conversation was imported before


def import_key(conversation: Conversation) -> str:
    return hashlib.sha256(f"{conversation.source}:{conversation.fingerprint}".encode()).hexdigest()


def store_conversation(
    db: Connection,
    caller: Caller,
    conversation: Conversation,
    ordered: list[ImportedMessage],
    now: datetime,
    alive: ColumnElement[bool],
) -> Stored:
    """`alive`: the SQL condition of a session that has not expired at `now`."""
    key = import_key(conversation)
    owner = S.owner.is_(None) if caller.name is None else S.owner == caller.name
    found = db.execute(
        select(S.session_id, S.message_count, alive.label("alive")).where(
            S.import_key == key, owner
        )
    ).first()
    if found is not None and found.alive:
        return Stored(found.session_id, found.message_count, new=False)
    if found is not None:
        db.execute(delete(sessions_table).where(S.session_id == found.session_id))
    ids = {message.key: str(uuid.uuid4()) for message in ordered}
    created = conversation.created_at or ordered[0].created_at or now
    leaf = ids.get(conversation.leaf_key or "") or ids[ordered[-1].key]
    session = insert_session(
        db,
        caller,
        conversation.metadata,
        conversation.system_prompt,
        message_count=len(ordered),
        last_seq=len(ordered),
        active_leaf_id=leaf,
        labels={"title": conversation.title, "import_key": key, "created_at": created},
    )
    rows = [_row(session.session_id, seq, m, ids, created) for seq, m in enumerate(ordered, 1)]
    db.execute(insert(messages_table), rows)
    return Stored(session.session_id, len(rows), new=True)


def _row(
    session_id: str,
    seq: int,
    message: ImportedMessage,
    ids: dict[str, str],
    created: datetime,
) -> dict[str, Any]:
    return {
        "message_id": ids[message.key],
        "session_id": session_id,
        "seq": seq,
        "parent_id": ids[message.parent_key] if message.parent_key else None,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created_at": message.created_at or created,
        "finish_reason": None,
        "token_usage": None,
        "error": None,
        "model": None,
        "tool_calls": None,
        "tool_results": None,
        **message.columns,
    }
