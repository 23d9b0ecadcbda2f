"""SQLite's search index, kept off the turn's path: new messages wait in
`search_backlog` (the triggers of migration 0014 put them there) and are indexed here
in batches, one FTS5 transaction for many messages.

Indexed in the same transaction, each turn paid FTS5's segment flush, about 75 us of
the event loop's time (measured: 151 against 76 us for a turn's writes). Here a batch
costs about 3.5 us a message. A batch runs every INTERVAL_SECONDS, and before every
search (so a search always sees every message that has ended); a search while the
database refuses writes reads the index as it is. PostgreSQL's GIN indexes keep
their own pending list: nothing to do there.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import Connection, text

from services.errors import DatabaseUnavailable
from services.storage import Database

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 1.0
BATCH = 5000
WAITING = text("SELECT 1 FROM search_backlog LIMIT 1")
INDEX_BATCH = text(
    "INSERT INTO message_fts(rowid, content) SELECT m.rowid, m.content"
    " FROM search_backlog b JOIN messages m ON m.rowid = b.message_rowid"
    " WHERE b.message_rowid <= :last"
)
LAST_OF_BATCH = text(
    "SELECT max(message_rowid) FROM (SELECT message_rowid FROM search_backlog"
    " ORDER BY message_rowid LIMIT :batch)"
)
FORGET_BATCH = text("DELETE FROM search_backlog WHERE message_rowid <= :last")


class SearchIndexer:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.enabled = database.engine.dialect.name == "sqlite"

    async def catch_up(self) -> None:
        """Index every message waiting; a refused write leaves them for later."""
        if not self.enabled:
            return
        try:
            while await self._waiting() and await self.database.write(index_batch) >= BATCH:
                pass
        except DatabaseUnavailable as exc:
            log.warning("search index not brought up to date: %s", exc.message)

    async def run_forever(self) -> None:
        while self.enabled:
            await asyncio.sleep(INTERVAL_SECONDS)
            try:
                await self.catch_up()
            except Exception:
                log.exception("indexing for search failed; will retry")

    async def _waiting(self) -> bool:
        async with self.database.read() as db:
            return (await db.execute(WAITING)).first() is not None


def index_batch(db: Connection) -> int:
    """Index the oldest BATCH messages waiting; how many there were."""
    last = db.execute(LAST_OF_BATCH, {"batch": BATCH}).scalar()
    if last is None:
        return 0
    db.execute(INDEX_BATCH, {"last": last})
    return db.execute(FORGET_BATCH, {"last": last}).rowcount
