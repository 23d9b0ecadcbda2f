"""Turn ends the database would not take (disk full, unwritable), kept to store later.

A reply generated while the database cannot be written is not thrown away: its end
(text, status, usage) waits here, the runner's watcher offers it again every
RETRY_SECONDS, and it lands as soon as the database takes writes again, with no
restart. Meanwhile the message stays `streaming` in the database with its last
checkpoint, the watcher's heartbeat keeps it from being swept as an orphan, and the
client was told `database_unavailable`. A process that stops before then leaves it
to the orphan sweep: `interrupted`, with the checkpointed text.
"""

from __future__ import annotations

import logging

import anyio

from models.message import MessagePublic
from services.errors import DatabaseUnavailable, ReplyNotStored, SessionNotFound
from services.metrics import Metrics
from services.turns.store import TurnOutcome, TurnStart, TurnStore

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class TurnEnds:
    def __init__(self, store: TurnStore, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        self.pending: dict[str, tuple[TurnStart, TurnOutcome]] = {}

    async def save(self, start: TurnStart, outcome: TurnOutcome) -> MessagePublic:
        """Store how a turn ended; shielded, so a client leaving cannot cut it in half.
        Kept for later, and ReplyNotStored raised, when the database refuses it."""
        usage, model = outcome.token_usage, outcome.model
        self.metrics.turn_ended(outcome.status.value, outcome.error, usage, model)
        try:
            stored = await self._finish(start, outcome)
        except DatabaseUnavailable as exc:
            self.pending[start.assistant_message_id] = (start, outcome)
            log.warning(
                "reply %s (%s, %d chars) kept in memory: %s",
                start.assistant_message_id,
                outcome.status,
                len(outcome.content),
                exc.message,
            )
            raise ReplyNotStored(exc.message) from exc
        return stored

    async def retry(self) -> None:
        """Offer the kept ends again, oldest first; stop at the first refusal."""
        for message_id, (start, outcome) in list(self.pending.items()):
            try:
                await self._finish(start, outcome)
            except DatabaseUnavailable:
                return
            except SessionNotFound:
                log.info("session %s was deleted before its reply was stored", start.session_id)
            else:
                log.info("reply %s stored now that the database takes writes", message_id)
            del self.pending[message_id]

    async def _finish(self, start: TurnStart, outcome: TurnOutcome) -> MessagePublic:
        with anyio.CancelScope(shield=True):
            stored = await self.store.finish(start, outcome)
        return stored
