"""Requests per period per API key (RATE_LIMIT, 600/minute by default), counted by
the `limits` library.

A moving window: at most 600 requests in any 60 s, and a refused request is told
(Retry-After) when the oldest counted one leaves the window. Several limits
(`600/minute;20/second`) each apply. The
counts live where RATE_LIMIT_STORAGE_URL says: memory:// counts per process (each
gunicorn worker on its own), redis:// shares them. Concurrent streams are counted
in the database instead (services/turns/store.py), exact across workers.
"""

from __future__ import annotations

import time

from limits import parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from models.auth import Caller
from services.errors import RateLimited


class RequestRate:
    def __init__(self, limits: str, storage_url: str) -> None:
        """`storage_url`: an asyncio storage of `limits` (config.async_storage_url)."""
        self.items = parse_many(limits) if limits else []
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url))

    async def count(self, caller: Caller) -> None:
        """Count one request of this key; RateLimited when it is over its limit.

        The anonymous caller (AUTH_MODE=none) is not limited: no key, no tenant.
        """
        if caller.name is None:
            return
        for item in self.items:
            if not await self.limiter.hit(item, caller.name):
                stats = await self.limiter.get_window_stats(item, caller.name)
                raise RateLimited(str(item), max(1.0, stats.reset_time - time.time()))
