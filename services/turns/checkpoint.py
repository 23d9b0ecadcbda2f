"""Checkpoints of streaming replies: their text saved while they are generated.

A crash then loses at most one interval of text, and other workers can follow
a reply (status, resume) from the database. Writes run beside the relay, never
in front of it, and are batched: the replies due for a checkpoint wait in one
process-wide queue, and a single writer task saves them all in one transaction,
then the ones that fell due meanwhile. With 1,000 streams at once that is a few
transactions a second instead of thousands (docs/BENCHMARKS.md); each reply's
text is read when its batch is written, so a batch never saves stale text.
"""

from __future__ import annotations

import asyncio
import logging
import time

import anyio

from services.errors import ServiceError
from services.turns.store import TurnStore

log = logging.getLogger(__name__)


class CheckpointQueue:
    """The process's checkpoint writer: replies due, keyed by message id."""

    def __init__(self, store: TurnStore) -> None:
        self.store = store
        self._due: dict[str, list[str]] = {}
        self._writing: asyncio.Task[None] | None = None
        self._in_batch: set[str] = set()

    def submit(self, message_id: str, parts: list[str]) -> None:
        """Save `parts` (the reply's live list of deltas) with the next batch."""
        self._due[message_id] = parts
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_while_due())

    async def _write_while_due(self) -> None:
        while self._due:
            batch, self._due = self._due, {}
            self._in_batch = set(batch)
            try:
                await self.store.checkpoint_many(batch)
            except ServiceError as exc:  # the final store will try again; keep streaming
                log.warning("checkpoint of %d replies skipped: %s", len(batch), exc)
            finally:
                self._in_batch = set()

    async def settle(self, message_id: str) -> None:
        """Drop the reply from the queue and wait for a batch holding it, so that its
        final write comes after its last checkpoint."""
        self._due.pop(message_id, None)
        if message_id in self._in_batch and self._writing is not None:
            with anyio.CancelScope(shield=True):
                await asyncio.shield(self._writing)


class Checkpointer:
    """One reply's clock: due every `seconds` or `chunks` (CHECKPOINT_SECONDS,
    CHECKPOINT_CHUNKS), whichever comes first; 0 turns either trigger off."""

    def __init__(
        self,
        queue: CheckpointQueue,
        message_id: str,
        parts: list[str],
        seconds: float,
        chunks: int,
    ) -> None:
        self.queue, self.message_id, self.parts = queue, message_id, parts
        self.seconds, self.chunks = seconds, chunks
        self.saved_at, self.unsaved = time.monotonic(), 0

    def after_chunk(self) -> None:
        self.unsaved += 1
        now = time.monotonic()
        by_count = 0 < self.chunks <= self.unsaved
        if by_count or 0 < self.seconds <= now - self.saved_at:
            self.saved_at, self.unsaved = now, 0
            self.queue.submit(self.message_id, self.parts)

    async def settle(self) -> None:
        await self.queue.settle(self.message_id)
