"""The audit trail: security events (sessions created, deleted, exported; keys made
and revoked), each written in the same transaction as the change it records, so
the trail has an entry exactly when the change happened. Never message content."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from models.auth import AuditEvent, AuditPage, Caller, audit_table
from models.types import utcnow
from services.errors import InvalidCursor
from services.storage import Database

A = audit_table.c

MAX_AUDIT_ID = 2**31 - 1  # the column is INTEGER: 32 bits on PostgreSQL
# Built once (its values are parameters): a statement built per event costs more to
# build than to run, and a new session on a turn's path records one.
RECORD = insert(audit_table)


def record_event(
    db: Connection,
    caller: Caller,
    action: str,
    session_id: str | None = None,
    key_name: str | None = None,
) -> None:
    """Add one event inside the caller's write transaction."""
    db.execute(
        RECORD,
        {
            "at": utcnow(),
            "actor": caller.actor,
            "action": action,
            "session_id": session_id,
            "key_name": key_name,
            "request_id": caller.request_id,
        },
    )


class AuditLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def page(
        self,
        limit: int,
        cursor: str | None,
        session_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
    ) -> AuditPage:
        """Newest first, keyset-paginated on the event id; filters are exact matches."""
        query = select(audit_table)
        if cursor is not None:
            if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
                raise InvalidCursor(cursor)
            # ids are 32-bit on PostgreSQL: a cursor past them all means "from the top"
            query = query.where(A.id < min(int(cursor), MAX_AUDIT_ID))
        for column, value in ((A.session_id, session_id), (A.actor, actor), (A.action, action)):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(A.id.desc()).limit(limit + 1)
        async with self.database.read() as db:
            rows = (await db.execute(query)).mappings().all()
        items = [AuditEvent(**row) for row in rows[:limit]]
        next_cursor = str(items[-1].id) if len(rows) > limit else None
        return AuditPage(items=items, next_cursor=next_cursor)
