"""Where a turn's messages go in the session's tree.

A plain turn continues the active path: its user message goes below the active
leaf. `parent_id` continues from another message of the session (a branch from any
point); `edit_of` puts the new user message beside an earlier one, below the same
parent, so the edited version stays. A regenerate stores no user message: its new
reply answers an existing one, beside the replies it already has. Whatever the
placement, the new reply's branch is the active path from the moment the turn
begins (services/turns/store.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Row,
    Update,
    bindparam,
    select,
    update,
)

from models.auth import Caller
from models.message import GENERATING, Role, messages_table
from models.session import sessions_table
from services.errors import (
    InvalidEdit,
    InvalidParent,
    MessageNotFound,
    NothingToRegenerate,
    SessionNotFound,
    TurnInProgress,
)
from services.memory.counting import Count
from services.memory.window import ChatMessage
from services.session_writes import insert_session
from services.sessions import Visibility, visibility_conditions, visible_message
from services.storage import Database

M = messages_table.c
S = sessions_table.c
# Built once (a statement built per turn costs more to build than to run): a message
# by its primary key, checked against the session; the session's active leaf.
IN_SESSION = select(
    M.role, M.parent_id, M.content, M.token_count, M.token_counter, M.tool_results
).where(M.message_id == bindparam("a_id"), M.session_id == bindparam("a_session"))
FIRST_TURN_LAST_SEQ = 2  # a new session's first turn: user at seq 1, assistant at 2
MAKE_LEAF = (
    update(sessions_table)
    .where(S.session_id == bindparam("l_session"))
    .values(active_leaf_id=bindparam("l_leaf"))
)
# The session's message being generated (`t_session`), through the partial index.
ACTIVE_TURN = (
    select(M.message_id).where(M.session_id == bindparam("t_session"), GENERATING).limit(1)
)
BOTH = (False, True)
ANSWERED = (Role.USER, Role.TOOL)  # what a reply answers: a user message, tool results


@dataclass(frozen=True, slots=True)
class Placement:
    """At most one of these is set; none: continue the active path."""

    parent_id: str | None = None  # the user message goes below this message
    edit_of: str | None = None  # the user message is a new version of this one
    reply_to: str | None = None  # no user message: a new reply to this stored one

    @property
    def new_user_message(self) -> bool:
        return self.reply_to is None


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A turn's session as its first transaction found it."""

    session_id: str
    last_seq: int  # the reply's position
    system: ChatMessage | None  # its own system prompt, with its count
    parent_id: str | None  # the message the turn's user message goes below
    profile_id: str | None = None
    titled: bool = False  # whether the session has a title (else one is written after)


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """What a regenerate answers again: a stored user (or `tool`) message of a session."""

    session_id: str
    user_message_id: str
    message: ChatMessage  # its role, text and tool results
    count: Count | None  # its stored token count, if it has one


def parent_of_user_message(
    db: Connection, session_id: str, active_leaf: str | None, placement: Placement
) -> str | None:
    """The message the turn's user message is below (a regenerate's: the parent of
    the user message it answers); the window is the path ending there. InvalidParent,
    InvalidEdit, or MessageNotFound (a regenerate's message deleted meanwhile)."""
    if placement.parent_id is not None:
        if _in_session(db, session_id, placement.parent_id) is None:
            raise InvalidParent(placement.parent_id)
        return placement.parent_id
    named = placement.edit_of or placement.reply_to
    if named is None:
        return active_leaf
    found = _in_session(db, session_id, named)
    answered = (Role.USER,) if placement.edit_of else ANSWERED
    if found is None or found.role not in answered:
        raise InvalidEdit(named) if placement.edit_of else MessageNotFound(named)
    parent: str | None = found.parent_id
    return parent


async def reply_target(
    database: Database, message_id: str, visible: ColumnElement[bool]
) -> ReplyTarget:
    """The user message a regenerate of `message_id` answers: the parent of a reply,
    or a user message itself (a new reply to it). MessageNotFound unless the caller
    may see it; NothingToRegenerate for a reply with no user message above it."""
    async with database.read() as db:
        found = (
            await db.execute(
                visible_message(
                    message_id,
                    visible,
                    M.session_id,
                    M.role,
                    M.parent_id,
                    M.content,
                    M.token_count,
                    M.token_counter,
                    M.tool_results,
                )
            )
        ).first()
        if found is None:
            raise MessageNotFound(message_id)
        if found.role in ANSWERED:
            return ReplyTarget(found.session_id, message_id, _answered(found), _count(found))
        user = None
        if found.parent_id is not None:
            params = {"a_id": found.parent_id, "a_session": found.session_id}
            user = (await db.execute(IN_SESSION, params)).first()
    if user is None or user.role not in ANSWERED:
        raise NothingToRegenerate(message_id)
    return ReplyTarget(found.session_id, found.parent_id, _answered(user), _count(user))


def _answered(row: Any) -> ChatMessage:
    return ChatMessage(row.role, row.content, tool_results=row.tool_results)


def _count(row: Any) -> Count | None:
    if row.token_count is None or row.token_counter is None:
        return None
    return Count(row.token_count, row.token_counter)


def _in_session(
    db: Connection, session_id: str, message_id: str
) -> Row[Any, Any, Any, Any, Any, Any] | None:
    return db.execute(IN_SESSION, {"a_id": message_id, "a_session": session_id}).first()


def open_session_for_turn(
    db: Connection,
    session_id: str | None,
    placement: Placement,
    caller: Caller,
    now: datetime,
    visible: Visibility,
    reply_id: str,
) -> OpenedSession:
    """The turn's session (a new one without session_id), its reply's position, its
    system prompt and profile, and the message the user message goes below; the
    reply's branch made the active path. A second turn on the session is refused
    here (409)."""
    if session_id is None:
        session = insert_session(
            db,
            caller,
            {},
            None,
            message_count=2,
            last_seq=FIRST_TURN_LAST_SEQ,
            active_leaf_id=reply_id,
        )
        return OpenedSession(session.session_id, FIRST_TURN_LAST_SEQ, None, None)
    positions = 2 if placement.new_user_message else 1
    reserved = reserve_positions(db, session_id, now, visible, positions)
    refuse_if_generating(db, session_id)
    parent_id = parent_of_user_message(db, session_id, reserved.active_leaf_id, placement)
    make_active_leaf(db, session_id, reply_id)
    system = None
    if reserved.system_prompt:
        system = ChatMessage(
            "system",
            reserved.system_prompt,
            None,
            reserved.system_prompt_tokens,
            reserved.system_prompt_counter,
        )
    return OpenedSession(
        session_id,
        reserved.last_seq,
        system,
        parent_id,
        reserved.profile_id,
        reserved.title is not None,
    )


def _reserve(expiry: bool, owner: bool) -> Update:
    """reserve_positions' statement for one Visibility shape."""
    positions: BindParameter[int] = bindparam("r_positions")
    return (
        update(sessions_table)
        .where(S.session_id == bindparam("r_session"), *visibility_conditions(expiry, owner))
        .values(
            last_seq=S.last_seq + positions,
            message_count=S.message_count + positions,
            last_accessed=bindparam("r_now"),
        )
        .returning(
            S.last_seq,
            S.system_prompt,
            S.system_prompt_tokens,
            S.system_prompt_counter,
            S.active_leaf_id,
            S.profile_id,
            S.title,
        )
    )


RESERVE = {(expiry, owner): _reserve(expiry, owner) for expiry in BOTH for owner in BOTH}


def reserve_positions(
    db: Connection, session_id: str, now: datetime, visible: Visibility, positions: int
) -> Row[Any]:
    """Message positions in the session (the last one is the reply's); with its
    system prompt (and its count), profile and active leaf."""
    params = {"r_session": session_id, "r_positions": positions, "r_now": now}
    reserved = db.execute(RESERVE[visible.shape], params | visible.params()).first()
    if reserved is None:
        raise SessionNotFound(session_id)
    return reserved


def make_active_leaf(db: Connection, session_id: str, message_id: str) -> None:
    """The new reply's branch is the active path from the moment its turn begins: a
    page reloaded mid-stream shows it."""
    db.execute(MAKE_LEAF, {"l_session": session_id, "l_leaf": message_id})


def refuse_if_generating(db: Connection, session_id: str) -> None:
    active = db.execute(ACTIVE_TURN, {"t_session": session_id}).first()
    if active is not None:
        raise TurnInProgress(session_id, active.message_id)
