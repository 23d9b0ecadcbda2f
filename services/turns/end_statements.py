"""A turn's last write: the reply's final state, in statements built once.

A statement built per turn costs more to build (and to key for SQLAlchemy's
compiled cache) than to run: built once with bound parameters, the end of a turn
costs about a third of the writer's time it did (docs/BENCHMARKS.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, update

from models.message import messages_table
from models.session import sessions_table
from models.turn_stop import turn_stops_table

M = messages_table.c
S = sessions_table.c
STOPS = turn_stops_table.c

# The stop request gone, the reply's final state, the session accessed.
FINAL_FIELDS = (
    "content",
    "status",
    "finish_reason",
    "token_usage",
    "error",
    "model",
    "delta_lengths",
    "llm_server",
    "token_count",
    "token_counter",
    "tool_calls",
)
UNSTOP = delete(turn_stops_table).where(STOPS.message_id == bindparam("f_id"))
FINAL = (
    update(messages_table)
    .where(M.message_id == bindparam("f_id"))
    .values({name: bindparam(f"f_{name}") for name in FINAL_FIELDS})
    .returning(M.created_at)
)
ACCESSED = (
    update(sessions_table)
    .where(S.session_id == bindparam("f_session"))
    .values(last_accessed=bindparam("f_now"))
)


def store_end(
    db: Connection, reply_id: str, session_id: str, final: dict[str, Any], now: datetime
) -> datetime | None:
    """The placeholder's final state; its creation time, None when the session went."""
    db.execute(UNSTOP, {"f_id": reply_id})
    values = {f"f_{name}": final[name] for name in FINAL_FIELDS}
    stored = db.execute(FINAL, {"f_id": reply_id, **values})
    created_at: datetime | None = stored.scalar_one_or_none()
    if created_at is not None:
        db.execute(ACCESSED, {"f_session": session_id, "f_now": now})
    return created_at
