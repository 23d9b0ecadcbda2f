"""Tool results answer the calls of the reply they follow: one result per call.

Checked in the turn's first transaction, against the reply as stored there (a
client's idea of the calls may be stale), so a `tool` message is only ever stored
below a reply whose every call it answers. The window relies on that pairing
(services/memory/tool_pairs.py), and so do upstreams: OpenAI refuses calls without
results and results without calls.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, bindparam, select

from models.message import MessageStatus, Role, messages_table
from services.errors import InvalidToolResults

M = messages_table.c
REPLY = select(M.role, M.status, M.tool_calls).where(
    M.message_id == bindparam("t_id"), M.session_id == bindparam("t_session")
)


def check_tool_results(
    db: Connection, session_id: str, reply_id: str | None, results: list[dict[str, Any]]
) -> None:
    """InvalidToolResults, naming the problem, unless `results` answer each call of
    the reply `reply_id` exactly once."""
    row = None
    if reply_id is not None:
        row = db.execute(REPLY, {"t_id": reply_id, "t_session": session_id}).first()
    if reply_id is None or row is None or row.role != Role.ASSISTANT or not row.tool_calls:
        raise InvalidToolResults(
            f"tool_results answer a reply's tool calls, but message {reply_id} made none:"
            " send them right after the reply that made the calls (or name it as parent_id)"
        )
    if row.status != MessageStatus.COMPLETE:
        raise InvalidToolResults(f"the reply {reply_id} did not complete: its calls stand void")
    check_one_per_call([call["id"] for call in row.tool_calls], results, f"message {reply_id}")


def check_one_per_call(calls: list[str], results: list[dict[str, Any]], reply: str) -> None:
    """InvalidToolResults unless `results` answer each of `calls` (made by `reply`,
    as the error names it) exactly once."""
    given = Counter(result["tool_call_id"] for result in results)
    if twice := [call_id for call_id, times in given.items() if times > 1]:
        raise InvalidToolResults(f"tool_call_id {twice[0]!r} has more than one result")
    if unknown := [call_id for call_id in given if call_id not in calls]:
        raise InvalidToolResults(
            f"tool_call_id {unknown[0]!r} is not a call of {reply}; its calls: {', '.join(calls)}"
        )
    if missing := [call_id for call_id in calls if call_id not in given]:
        raise InvalidToolResults(
            f"the call {missing[0]!r} of {reply} has no result: send one result per call"
        )
