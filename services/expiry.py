"""The periodic purge of expired sessions and Idempotency-Keys, run as a task for the
app's lifetime."""

from __future__ import annotations

import asyncio
import logging

from services.idempotency import purge_expired_keys
from services.sessions import SessionService

log = logging.getLogger(__name__)


async def purge_expired_sessions_forever(sessions: SessionService, interval: float) -> None:
    """Delete expired sessions every `interval` seconds; a failed round is retried next time."""
    while True:
        await asyncio.sleep(interval)
        try:
            purged = await sessions.purge_expired()
            await purge_expired_keys(sessions.database)
        except Exception:
            log.exception("purging expired sessions failed; will retry")
            continue
        if purged:
            log.info("purged %d expired sessions", purged)
