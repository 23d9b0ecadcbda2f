"""Requests per minute per API key, counted by the `limits` library.

A moving window: at most RATE_LIMIT_PER_MINUTE requests in any 60 s, and a refused
request is told (Retry-After) when the oldest counted one leaves the window. The
counts live where RATE_LIMIT_STORAGE_URL says: memory:// counts per process (each
gunicorn worker on its own), redis:// shares them. Concurrent streams are counted
in the database instead (services/turn_store.py), exact across workers.
"""

from __future__ import annotations

import time

from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from models.auth import Caller
from services.errors import RateLimited


class RequestRate:
    def __init__(self, per_minute: int, storage_url: str = "memory://") -> None:
        self.per_minute = per_minute
        self.item = RateLimitItemPerMinute(per_minute) if per_minute else None
        async_url = storage_url if storage_url.startswith("async+") else f"async+{storage_url}"
        self.limiter = MovingWindowRateLimiter(storage_from_string(async_url))

    async def count(self, caller: Caller) -> None:
        """Count one request of this key; RateLimited when it is over its limit.

        The anonymous caller (AUTH_MODE=none) is not limited: no key, no tenant.
        """
        if self.item is None or caller.name is None:
            return
        if await self.limiter.hit(self.item, caller.name):
            return
        stats = await self.limiter.get_window_stats(self.item, caller.name)
        raise RateLimited(self.per_minute, max(1.0, stats.reset_time - time.time()))
