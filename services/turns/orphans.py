"""Turns whose process died: their `streaming` placeholders become `interrupted`,
with the text their last checkpoint kept (services/turns/checkpoint.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, or_, select, update

from models.message import GENERATING, MessageStatus, messages_table
from models.turn_stop import turn_stops_table
from models.types import utcnow
from services.storage import Database

M = messages_table.c
STOPS = turn_stops_table.c


async def interrupt_orphaned_turns(database: Database, silent_since: datetime | None = None) -> int:
    """Turns left `streaming` by a process that died become `interrupted`, text kept.

    Without `silent_since`, every such turn: only safe when no live process owns one,
    at the startup of a single process or in the gunicorn master before it forks
    (gunicorn.conf.py). With it, the turns whose worker has not beaten since then
    (a worker that crashed while its siblings live on); any worker may run this.
    """
    return await database.write(_interrupt_orphans, silent_since)


async def interrupt_at_startup(database: Database, orphan_after_seconds: float) -> int:
    """The sweep of a process starting (or of a gunicorn master before it forks).

    On SQLite, the database of one machine, every turn left streaming: no live
    process of this service can own one (several `python main.py` on one file set
    INTERRUPT_ORPHANS_AT_STARTUP=false). On PostgreSQL other instances may be
    generating: only the turns silent for `orphan_after_seconds` are taken, and this
    instance's own dead ones follow within that time (its periodic sweep, or
    another instance's).
    """
    silent_since = None
    if database.engine.dialect.name != "sqlite":
        silent_since = utcnow() - timedelta(seconds=orphan_after_seconds)
    return await interrupt_orphaned_turns(database, silent_since)


def _interrupt_orphans(db: Connection, silent_since: datetime | None) -> int:
    orphaned = GENERATING
    if silent_since is not None:
        orphaned = and_(orphaned, or_(M.heartbeat_at < silent_since, M.heartbeat_at.is_(None)))
    result = db.execute(
        update(messages_table)
        .where(orphaned)
        .values(
            status=MessageStatus.INTERRUPTED,
            finish_reason=MessageStatus.INTERRUPTED.value,
            error=MessageStatus.INTERRUPTED.value,
        )
    )
    still_streaming = (
        select(M.message_id).where(M.message_id == STOPS.message_id, GENERATING).exists()
    )
    db.execute(delete(turn_stops_table).where(~still_streaming))
    return int(result.rowcount)
