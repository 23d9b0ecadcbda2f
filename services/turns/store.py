"""The write transactions of a turn; no transaction spans the LLM call.

begin: refuse a second turn while one is generating (409), reserve two positions
(user, assistant) on the session, store the user message and the assistant's
`streaming` placeholder, and read the context-window candidates (the path above the
new message, services/tree.py), all in one
transaction committed before the LLM is called: an accepted message is never lost
and a turn is visible (history, status) from its first moment.
checkpoint: save the partial text while streaming, so a crash keeps it.
finish: move the placeholder to its final state and mark the session accessed.
A process that died mid-turn leaves placeholders to services/turns/orphans.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    func,
    insert,
    select,
    update,
)

from models.auth import Caller
from models.message import (
    GENERATING,
    MessagePublic,
    MessageStatus,
    Role,
    TokenUsage,
    messages_table,
)
from models.session import sessions_table
from models.turn_stop import turn_stops_table
from models.types import utcnow
from services.errors import SessionNotFound, TooManyStreams
from services.idempotency import IdempotencyClaim, find_original, once_per_key, record
from services.memory.counting import Count
from services.memory.plan import Fitted, Plan, Recall
from services.memory.recall import read_candidates
from services.memory.window import ChatMessage
from services.sessions import SessionService, Visibility
from services.storage import Database, execute, execute_many
from services.turns.config import Profile, TurnConfig, read_profile
from services.turns.end_statements import store_end
from services.turns.placement import Placement, open_session_for_turn
from services.turns.tool_results import check_tool_results

M = messages_table.c
S = sessions_table.c
STOPS = turn_stops_table.c
PLAIN = Placement()
# Built once: a statement built per turn costs more to build than to run.
INSERT_MESSAGES = insert(messages_table)
# The replies a key (`g_owner`) has generating, in every worker.
GENERATING_OF_OWNER = (
    select(func.count())
    .select_from(messages_table)
    .join(sessions_table, S.session_id == M.session_id)
    .where(S.owner == bindparam("g_owner"), GENERATING)
)
CHECKPOINT = (
    update(messages_table)
    .where(M.message_id == bindparam("b_id"), GENERATING)
    .values(content=bindparam("b_text"), delta_lengths=bindparam("b_lengths"))
)
# The turn's settings from what its first transaction read: (the session's system
# prompt, its profile) -> request > session > profile > setting (services/turns/config.py).
Configure = Callable[[ChatMessage | None, Profile], TurnConfig]
# Fits the window inside that transaction: (settings, history candidates newest
# first, user message id, summary memory's additions) -> messages and plan.
WindowFitter = Callable[[TurnConfig, list[ChatMessage], str, Recall | None], Fitted]


@dataclass(frozen=True, slots=True)
class TurnStart:
    """What begin stored and read: the turn's ids, settings, and the window it will send."""

    session_id: str
    user_message_id: str
    assistant_message_id: str
    assistant_seq: int
    window: list[ChatMessage]
    plan: Plan
    config: TurnConfig
    titled: bool = True  # False: the session has no title yet (services/search/titles.py)


@dataclass(frozen=True, slots=True)
class TurnAsk:
    """What a turn asks to store: its text and count, where it goes, how to settle
    its settings, and how to fit the window."""

    session_id: str | None
    user: ChatMessage  # the new message (user, or `tool` results), counted
    configure: Configure
    fit: WindowFitter
    placement: Placement = PLAIN
    echo: dict[str, Any] | None = None  # stored with the reply (the /v1 door's)


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    content: str
    status: MessageStatus
    finish_reason: str | None
    token_usage: TokenUsage | None
    error: str | None = None
    delta_lengths: list[int] | None = None
    llm_server: str | None = None
    count: Count | None = None  # the reply's tokens, for the windows of later turns
    model: str | None = None  # the model that answered
    tool_calls: list[dict[str, Any]] | None = None  # a complete reply's calls


class TurnStore:
    def __init__(
        self, database: Database, sessions: SessionService, max_streams_per_key: int = 0
    ) -> None:
        self.database = database
        self.sessions = sessions
        self.max_streams_per_key = max_streams_per_key  # 0: no limit

    async def begin(
        self, ask: TurnAsk, caller: Caller, claim: IdempotencyClaim | None = None
    ) -> TurnStart:
        """Store the user message (none for a regenerate) and the assistant's
        `streaming` placeholder where the placement puts them, with the window fitted
        from the history read and its plan.

        The active-turn check and the placeholder share one write transaction, so two
        turns racing on one session (in any worker) cannot both pass: the loser is 409.
        So does the count of the key's turns generating (TooManyStreams), exact across
        workers. Another key's session is SessionNotFound before anything else is
        checked, so not even a 409 tells it exists.
        With a claim, a repeat of a request already begun raises Repeated (before the
        409 check: the repeat of a running turn attaches to it) and nothing is written.
        """
        now = utcnow()
        visible = self.sessions.visibility(caller, now)
        return await once_per_key(
            lambda: self.database.write_now(self._begin, ask, caller, now, visible, claim)
        )

    def _begin(
        self,
        db: Connection,
        ask: TurnAsk,
        caller: Caller,
        now: datetime,
        visible: Visibility,
        claim: IdempotencyClaim | None,
    ) -> TurnStart:
        if claim is not None:
            find_original(db, claim, now)
        user_message_id = ask.placement.reply_to or str(uuid.uuid4())
        assistant_message_id = str(uuid.uuid4())
        opened = open_session_for_turn(
            db, ask.session_id, ask.placement, caller, now, visible, assistant_message_id
        )
        session_id, last_seq, parent_id = opened.session_id, opened.last_seq, opened.parent_id
        if ask.user.tool_results is not None and ask.placement.new_user_message:
            check_tool_results(db, session_id, parent_id, ask.user.tool_results)
        self._refuse_over_stream_limit(db, caller)
        config = ask.configure(opened.system, read_profile(db, opened.profile_id))
        history, recall = read_candidates(db, parent_id, config.memory_type, config.candidates)
        fitted = ask.fit(config, history, user_message_id, recall)
        assistant = _message_row(session_id, assistant_message_id, last_seq, Role.ASSISTANT, now)
        rows = [assistant | {"status": MessageStatus.STREAMING, "heartbeat_at": now}]
        rows[0] |= {"parent_id": user_message_id, "context_plan": fitted.plan.to_stored()}
        rows[0]["echo"] = ask.echo
        if ask.placement.new_user_message:
            rows.insert(0, _new_message_row(ask.user, session_id, user_message_id, last_seq, now))
            rows[0]["parent_id"] = parent_id
        db.execute(INSERT_MESSAGES, rows)
        if claim is not None:
            ids = {"user_message_id": user_message_id, "message_id": assistant_message_id}
            record(db, claim, now, session_id, **ids)
        return TurnStart(
            session_id=session_id,
            user_message_id=user_message_id,
            assistant_message_id=assistant_message_id,
            assistant_seq=last_seq,
            window=fitted.messages,
            plan=fitted.plan,
            config=config,
            titled=opened.titled,
        )

    def _refuse_over_stream_limit(self, db: Connection, caller: Caller) -> None:
        """TooManyStreams when the key already has its limit of replies generating."""
        if not self.max_streams_per_key or caller.name is None:
            return
        generating = db.execute(GENERATING_OF_OWNER, {"g_owner": caller.name}).scalar_one()
        if generating >= self.max_streams_per_key:
            raise TooManyStreams(self.max_streams_per_key)

    async def checkpoint_many(self, replies: dict[str, list[str]]) -> None:
        """Save the partial text of replies still streaming (a crash keeps it), with
        their delta lengths (a resume from any worker maps event ids to text); one
        transaction for them all. A reply that has ended meanwhile is left alone."""
        rows = [
            {"b_id": message_id, "b_text": "".join(parts), "b_lengths": [len(p) for p in parts]}
            for message_id, parts in replies.items()
        ]
        await self.database.write_now(execute_many, CHECKPOINT, rows)

    async def finish(self, start: TurnStart, outcome: TurnOutcome) -> MessagePublic:
        """Move the placeholder to its final state; SessionNotFound if the session went."""
        final = {
            "content": outcome.content,
            "status": outcome.status,
            "finish_reason": outcome.finish_reason,
            "token_usage": outcome.token_usage.model_dump() if outcome.token_usage else None,
            "error": outcome.error,
            "model": outcome.model,
            "tool_calls": outcome.tool_calls,
        }
        count = outcome.count
        stored_only: dict[str, Any] = {
            "delta_lengths": outcome.delta_lengths,
            "llm_server": outcome.llm_server,
            "token_count": count.tokens if count else None,
            "token_counter": count.key if count else None,
        }
        created_at = await self.database.write_now(
            store_end, start.assistant_message_id, start.session_id, final | stored_only, utcnow()
        )
        if created_at is None:
            raise SessionNotFound(start.session_id)
        return MessagePublic(
            message_id=start.assistant_message_id,
            session_id=start.session_id,
            parent_id=start.user_message_id,
            role=Role.ASSISTANT,
            created_at=created_at,
            **final,
        )

    async def beat(self, message_ids: list[str]) -> None:
        """This process is alive and still generating these replies."""
        await self.database.write_now(
            execute,
            update(messages_table)
            .where(M.message_id.in_(message_ids), GENERATING)
            .values(heartbeat_at=utcnow()),
        )


def _new_message_row(
    new: ChatMessage, session_id: str, message_id: str, reply_seq: int, now: datetime
) -> dict[str, Any]:
    """The turn's new message, just before its reply: a user message or tool results."""
    row = _message_row(session_id, message_id, reply_seq - 1, Role(new.role), now)
    count = {"token_count": new.tokens, "token_counter": new.counted_by}
    return row | {"content": new.content, "tool_results": new.tool_results} | count


def _message_row(
    session_id: str, message_id: str, seq: int, role: Role, now: datetime
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "session_id": session_id,
        "seq": seq,
        "role": role,
        "created_at": now,
        "token_usage": None,
        "finish_reason": None,
        "error": None,
        "heartbeat_at": None,  # every row of one insert needs the same keys
        "parent_id": None,
        "content": "",
        "status": MessageStatus.COMPLETE,
        "token_count": None,
        "token_counter": None,
        "context_plan": None,
        "tool_results": None,
        "echo": None,
    }
