"""Summary memory's read of a path: the history down to the newest summary valid for it.

A summary is valid for a path when the message it covers through is on the path
(models/summary.py). The walk goes up from the path's end one indexed step at a time
(as services/tree.py's do) and stops at the first message some summary covers
through: that is the newest summary valid for the path, and everything above it is
what the summary stands for. So the walk reads only what is not summarized yet,
which the summarizer keeps near SUMMARY_TRIGGER_TOKENS plus a window; it is capped
at WALK_LIMIT messages for a long history not summarized yet (switched to summary
memory late): beyond the cap the turn goes without a summary until the summarizer
has caught up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, case, exists, literal, select

from models.message import messages_table
from models.summary import summaries_table
from services.memory.plan import Recall
from services.memory.summary_text import summary_part
from services.memory.window import ChatMessage
from services.tree import SENDABLE, WINDOW, WINDOW_COLUMNS, window_params

M = messages_table.c
SU = summaries_table.c
WALK_LIMIT = 5000


def _recall_query() -> Select[Any]:
    """(message_id, role, content, token_count, token_counter, sendable, covered, depth)
    of the path ending at :r_leaf, up to and including the first covered message."""
    sendable = case((SENDABLE, 1), else_=0)
    covered = case((exists().where(SU.covers_through_message_id == M.message_id), 1), else_=0)
    columns = (M.message_id, M.parent_id, *WINDOW_COLUMNS)
    first = select(
        *columns,
        sendable.label("sendable"),
        covered.label("covered"),
        literal(0, Integer).label("depth"),
    ).where(M.message_id == bindparam("r_leaf"))
    path = first.cte("recall_path", recursive=True)
    up = (
        select(*columns, sendable, covered, path.c.depth + 1)
        .join(path, M.message_id == path.c.parent_id)
        .where(path.c.covered == 0, path.c.depth < bindparam("r_limit"))
    )
    path = path.union_all(up)
    return select(path)


RECALL = _recall_query()
NEWEST_SUMMARY = (
    select(SU.summary_id, SU.text, SU.token_count, SU.token_counter, SU.covered_messages)
    .where(SU.covers_through_message_id == bindparam("s_covers"))
    .order_by(SU.created_at.desc(), SU.summary_id.desc())
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class PathSince:
    """A path's messages not summarized yet, newest first (sendable ones only), the
    summary above them, and how many messages that summary covers."""

    messages: list[ChatMessage]
    summary: ChatMessage | None
    summary_text: str | None
    covered_messages: int
    covers_through: str | None


def read_path_since_summary(db: Connection, leaf_id: str | None) -> PathSince:
    """The path ending at `leaf_id`, from its newest summary down."""
    if leaf_id is None:
        return PathSince([], None, None, 0, None)
    rows = sorted(db.execute(RECALL, {"r_leaf": leaf_id, "r_limit": WALK_LIMIT}), key=_depth)
    covers = rows[-1].message_id if rows and rows[-1].covered else None
    messages = [window_message(row) for row in rows if row.sendable and not row.covered]
    if covers is None:
        return PathSince(messages, None, None, 0, None)
    found = db.execute(NEWEST_SUMMARY, {"s_covers": covers}).one()
    summary = ChatMessage(
        "system", summary_part(found.text), found.summary_id, found.token_count, found.token_counter
    )
    return PathSince(messages, summary, found.text, found.covered_messages, covers)


def read_recall(
    db: Connection, leaf_id: str | None, limit: int
) -> tuple[list[ChatMessage], Recall]:
    """A turn's window candidates (the newest `limit` messages since the summary) and
    what summary memory adds: the summary, and the older messages it does not cover."""
    since = read_path_since_summary(db, leaf_id)
    candidates = since.messages[: max(limit, 0)]
    return candidates, Recall(since.summary, since.messages[len(candidates) :])


def _depth(row: Any) -> int:
    depth: int = row.depth
    return depth


def read_candidates(
    db: Connection, leaf_id: str | None, memory_type: str, limit: int
) -> tuple[list[ChatMessage], Recall | None]:
    """A window's candidates, newest first (the path ending at `leaf_id`, the new
    message's parent: at most `limit`), and with summary memory its summary."""
    if memory_type == "summary":
        return read_recall(db, leaf_id, limit)
    if leaf_id is None or limit <= 0:
        return [], None
    rows = sorted(db.execute(WINDOW, window_params(leaf_id, limit)), key=_depth)
    return [window_message(row) for row in rows], None


def window_message(row: Any) -> ChatMessage:
    """A stored message read for a window (services/tree.py's WINDOW_COLUMNS)."""
    return ChatMessage(
        row.role,
        row.content,
        row.message_id,
        row.token_count,
        row.token_counter,
        row.tool_calls,
        row.tool_results,
    )
