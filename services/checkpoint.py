"""Checkpoints of a streaming reply: its text saved while it is generated.

A crash then loses at most one interval of text, and other workers can follow
the reply (status, resume) from the database. The write runs beside the relay,
never in front of it: the generation loop starts it and goes on passing chunks
to the client; a checkpoint falling due while one is being written waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time

import anyio

from services.errors import ServiceError
from services.turn_store import TurnStart, TurnStore

log = logging.getLogger(__name__)


class Checkpointer:
    """Saves every `seconds` or `chunks` (CHECKPOINT_SECONDS, CHECKPOINT_CHUNKS),
    whichever comes first; 0 turns either trigger off."""

    def __init__(
        self, store: TurnStore, start: TurnStart, parts: list[str], seconds: float, chunks: int
    ) -> None:
        self.store, self.start, self.parts = store, start, parts
        self.seconds, self.chunks = seconds, chunks
        self.saved_at, self.unsaved = time.monotonic(), 0
        self._writing: asyncio.Task[None] | None = None

    def after_chunk(self) -> None:
        self.unsaved += 1
        if self._writing is not None and not self._writing.done():
            return  # due again once this write is done
        now = time.monotonic()
        by_count = 0 < self.chunks <= self.unsaved
        if by_count or 0 < self.seconds <= now - self.saved_at:
            self.saved_at, self.unsaved = now, 0
            self._writing = asyncio.create_task(self._save(list(self.parts)))

    async def _save(self, parts: list[str]) -> None:
        try:
            await self.store.checkpoint(self.start, parts)
        except ServiceError as exc:  # the final store will try again; keep streaming
            log.warning("checkpoint of %s skipped: %s", self.start.assistant_message_id, exc)

    async def settle(self) -> None:
        """Wait for a write in flight, so that the final write comes after it."""
        if self._writing is not None:
            with anyio.CancelScope(shield=True):
                await self._writing
