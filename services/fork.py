"""Forking a conversation: a new session whose history is a copy of one path.

The copy is the path from the session's first message down to the message named,
with new ids and each message's parent the one before it: the fork starts as a
single chain, whatever versions the source had around it. It takes the source's
system prompt and metadata, belongs to the caller, and names its origin
(`forked_from`), and copies of the summaries that cover a prefix of the path (summary
memory goes on where it was). Source and fork are independent from then on: deleting
either leaves the other whole. All of it is one transaction, with its Idempotency-Key
when one is sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, insert, select

from models.auth import Caller
from models.message import MessageStatus, messages_table
from models.session import ForkOrigin, ForkRequest, SessionPublic, sessions_table
from models.summary import summaries_table
from models.types import utcnow
from services.errors import InvalidForkPoint, SessionNotFound, TurnInProgress
from services.idempotency import (
    IdempotencyClaim,
    Repeated,
    Replayable,
    claim,
    find_original,
    once_per_key,
    record,
)
from services.memory.counting import Count
from services.session_writes import insert_session
from services.sessions import SessionService
from services.storage import Database
from services.tree import PATH_PAGE, page_params

M = messages_table.c
S = sessions_table.c
SU = summaries_table.c
FORK_SCOPE = "fork"
# What a copied message keeps; its id, session, position and parent are the fork's.
COPIED = ("role", "content", "status", "finish_reason", "token_usage", "error", "created_at")
COPIED_TOO = (
    "delta_lengths",
    "llm_server",
    "token_count",
    "token_counter",
    "context_plan",
    "model",
    "tool_calls",
    "tool_results",
)


class ForkService:
    def __init__(self, database: Database, sessions: SessionService) -> None:
        self.database = database
        self.sessions = sessions

    async def fork(
        self, session_id: str, body: ForkRequest, key: str | None, caller: Caller
    ) -> Replayable[SessionPublic]:
        """The new session (or, for a repeated Idempotency-Key, the one it created).
        SessionNotFound unless the caller may see the source; InvalidForkPoint for a
        message not of it; TurnInProgress for a reply still being generated."""
        asked = _ForkAsk(session_id=session_id, message_id=body.message_id)
        claimed = claim(FORK_SCOPE, key, asked, self.sessions.key_hours, caller)
        now = utcnow()
        visible = self.sessions.visible(caller, now)
        origin = ForkOrigin(session_id=session_id, message_id=body.message_id)
        fork = _Fork(origin, caller, now, claimed)
        try:
            forked = await once_per_key(lambda: self.database.write(_copy_path, fork, visible))
        except Repeated as repeat:
            return Replayable(SessionPublic(**repeat.stored_response()), replayed=True)
        return Replayable(forked)


class _ForkAsk(ForkRequest):
    """What a fork's Idempotency-Key stands for: the body, and the session forked."""

    session_id: str


@dataclass(frozen=True, slots=True)
class _Fork:
    """One fork request, as the write transaction needs it."""

    origin: ForkOrigin
    caller: Caller
    now: datetime
    claim: IdempotencyClaim | None


def _copy_path(db: Connection, fork: _Fork, visible: ColumnElement[bool]) -> SessionPublic:
    if fork.claim is not None:
        find_original(db, fork.claim, fork.now)
    origin = fork.origin
    source = (
        db.execute(
            select(
                S.metadata,
                S.system_prompt,
                S.system_prompt_tokens,
                S.system_prompt_counter,
                S.message_count,
                S.profile_id,
            ).where(S.session_id == origin.session_id, visible)
        )
        .mappings()
        .first()
    )
    if source is None:
        raise SessionNotFound(origin.session_id)
    path = _path_to(db, origin, source["message_count"])
    new_ids = [str(uuid.uuid4()) for _ in path]
    session = insert_session(
        db,
        fork.caller,
        source["metadata"],
        source["system_prompt"],
        message_count=len(path),
        last_seq=len(path),
        active_leaf_id=new_ids[-1],
        forked_from=origin,
        system_count=_system_count(source),
        profile_id=source["profile_id"],
    )
    renamed = {row.message_id: new for row, new in zip(path, new_ids, strict=True)}
    summaries = _summaries_of(db, renamed, session.session_id)
    renamed |= {old: copy["summary_id"] for old, copy in summaries.items()}
    db.execute(insert(messages_table), _copies(path, new_ids, session.session_id, renamed))
    if summaries:
        db.execute(insert(summaries_table), list(summaries.values()))
    if fork.claim is not None:
        response = session.model_dump(mode="json")
        record(db, fork.claim, fork.now, session.session_id, response=response)
    return session


def _summaries_of(
    db: Connection, renamed: dict[str, str], session_id: str
) -> dict[str, dict[str, Any]]:
    """Copies of the summaries that cover a prefix of the copied path, by the id of
    the one copied: the fork's memory goes on where the source's was."""
    found = db.execute(
        select(summaries_table).where(SU.covers_through_message_id.in_(list(renamed)))
    ).mappings()
    copies = {row["summary_id"]: dict(row) for row in found}
    new_ids = {old: str(uuid.uuid4()) for old in copies}
    for old, copy in copies.items():
        previous = copy["previous_summary_id"]
        copy |= {
            "summary_id": new_ids[old],
            "session_id": session_id,
            "covers_through_message_id": renamed[copy["covers_through_message_id"]],
            "previous_summary_id": new_ids.get(previous) if previous else None,
        }
    return copies


def _renamed_plan(plan: dict[str, Any] | None, renamed: dict[str, str]) -> dict[str, Any] | None:
    if plan is None:
        return None
    parts = [
        [kind, renamed.get(id_, id_), role, tokens] for kind, id_, role, tokens in plan["parts"]
    ]
    summary_id = plan.get("summary_id")
    return plan | {"parts": parts, "summary_id": renamed.get(summary_id or "", summary_id)}


def _system_count(source: Any) -> Count | None:
    if source["system_prompt_tokens"] is None or source["system_prompt_counter"] is None:
        return None
    return Count(source["system_prompt_tokens"], source["system_prompt_counter"])


def _path_to(db: Connection, origin: ForkOrigin, longest: int) -> list[Row[Any]]:
    """The path from the first message down to the origin message, oldest first."""
    end = db.execute(
        select(M.status).where(M.message_id == origin.message_id, M.session_id == origin.session_id)
    ).first()
    if end is None:
        raise InvalidForkPoint(origin.message_id)
    if end.status == MessageStatus.STREAMING:
        raise TurnInProgress(origin.session_id, origin.message_id)
    rows = db.execute(PATH_PAGE, page_params(origin.message_id, max(longest, 1))).all()
    return sorted(rows, key=lambda row: row.depth, reverse=True)


def _copies(
    path: list[Row[Any]], new_ids: list[str], session_id: str, renamed: dict[str, str]
) -> list[dict[str, Any]]:
    """The rows of the copied path: new ids, positions 1..n, each below the one before;
    a reply's context plan names the copies (what it was sent is all on the path, and
    the summaries that cover a prefix of it are copied too)."""
    copies = []
    for position, (row, message_id) in enumerate(zip(path, new_ids, strict=True), start=1):
        kept = {name: getattr(row, name) for name in COPIED + COPIED_TOO}
        kept["context_plan"] = _renamed_plan(row.context_plan, renamed)
        copies.append(
            kept
            | {
                "message_id": message_id,
                "session_id": session_id,
                "seq": position,
                "parent_id": new_ids[position - 2] if position > 1 else None,
                "heartbeat_at": None,
            }
        )
    return copies
