"""A session's messages as a tree, read one indexed step at a time.

Each message names its parent (models/message.py); the history is the path from the
first message down to a leaf. A path is read by walking up from its end through the
primary key, one lookup per message, and the walk stops as soon as it has what it
needs. So a turn's window, or a page of history, costs the same in a session of ten
messages as in one of a hundred thousand in a thousand branches.

The walks are recursive common table expressions, which SQLite and PostgreSQL run
alike. Their rows come with their depth (0: the message the walk started from);
callers order the few rows by it rather than have the database sort them. Each is
built once, with bound parameters: building and keying a recursive statement anew
for every turn cost 0.6 ms, more than running it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, and_, bindparam, case, literal, or_, select

from models.message import MessageStatus, Role, messages_table

M = messages_table.c
SENDABLE_ASSISTANT = (MessageStatus.COMPLETE, MessageStatus.CANCELLED, MessageStatus.INTERRUPTED)
# What a context window may carry: user and tool messages, and replies that ended
# with text or tool calls (failed and empty replies are never sent to the LLM again).
SENDABLE = or_(
    M.role != Role.ASSISTANT,
    and_(M.status.in_(SENDABLE_ASSISTANT), or_(M.content != "", M.tool_calls.is_not(None))),
)
WINDOW_COLUMNS = (M.role, M.content, M.token_count, M.token_counter, M.tool_calls, M.tool_results)


def window_query(leaf_id: Any, limit: Any) -> Select[Any]:
    """The newest `limit` sendable messages of the path ending at `leaf_id` (itself
    included): (message_id, WINDOW_COLUMNS..., depth). The
    walk counts the sendable messages it has passed and goes no further once it has
    `limit` of them."""
    counted = case((SENDABLE, 1), else_=0)
    first = select(
        M.message_id,
        M.parent_id,
        *WINDOW_COLUMNS,
        counted.label("sendable"),
        counted.label("taken"),
        literal(0, Integer).label("depth"),
    ).where(M.message_id == leaf_id)
    path = first.cte("window_path", recursive=True)
    up = (
        select(
            M.message_id,
            M.parent_id,
            *WINDOW_COLUMNS,
            counted,
            path.c.taken + counted,
            path.c.depth + 1,
        )
        .join(path, M.message_id == path.c.parent_id)
        .where(path.c.taken < limit)
    )
    path = path.union_all(up)
    columns = ("message_id", *(column.name for column in WINDOW_COLUMNS), "depth")
    return select(*(path.c[name] for name in columns)).where(path.c.sendable == 1)


def path_page_query(leaf_id: Any, limit: Any) -> Select[tuple[object, ...]]:
    """`limit` messages of the path ending at `leaf_id` (itself included), every
    column, each with its depth: one page of history, newest first by depth."""
    first = select(*messages_table.c, literal(0, Integer).label("depth")).where(
        M.message_id == leaf_id
    )
    path = first.cte("page_path", recursive=True)
    up = (
        select(*messages_table.c, path.c.depth + 1)
        .join(path, M.message_id == path.c.parent_id)
        .where(path.c.depth < limit - 1)
    )
    path = path.union_all(up)
    return select(path)


def siblings_query(session_id: str, parent_ids: set[str | None]) -> Select[tuple[str | None, str]]:
    """(parent_id, message_id) of every child of these parents, in creation order,
    through the (session_id, parent_id) index; None stands for the session's roots."""
    named = [parent for parent in parent_ids if parent is not None]
    children: ColumnElement[bool] = M.parent_id.in_(named)
    if None in parent_ids:
        children = or_(children, M.parent_id.is_(None))
    return (
        select(M.parent_id, M.message_id)
        .where(M.session_id == session_id, children)
        .order_by(M.seq)
    )


def sibling_places(children: list[tuple[str | None, str]]) -> dict[str, tuple[int, int]]:
    """Each message's (index, count) among its parent's children, given every child
    of those parents in creation order."""
    by_parent: dict[str | None, list[str]] = {}
    for parent, message_id in children:
        by_parent.setdefault(parent, []).append(message_id)
    return {
        message_id: (index, len(siblings))
        for siblings in by_parent.values()
        for index, message_id in enumerate(siblings)
    }


# The statements as the service runs them: execute with window_params / page_params.
WINDOW = window_query(bindparam("w_leaf"), bindparam("w_limit"))
PATH_PAGE = path_page_query(bindparam("p_leaf"), bindparam("p_limit"))


def window_params(leaf_id: str, limit: int) -> dict[str, Any]:
    return {"w_leaf": leaf_id, "w_limit": limit}


def page_params(leaf_id: str, limit: int) -> dict[str, Any]:
    return {"p_leaf": leaf_id, "p_limit": limit}
