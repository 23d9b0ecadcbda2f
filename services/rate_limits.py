"""Requests per period per API key (RATE_LIMIT, 600/minute by default).

A moving window: at most 600 requests in any 60 s, and a refused request is told
(Retry-After) when the oldest counted one leaves the window; a refused request is
not counted. Several limits (`600/minute;20/second`) each apply. The counts live
where RATE_LIMIT_STORAGE_URL says:

- `database` (the default on PostgreSQL): in the service's own database, a row per
  counted request (models/rate_hit.py), counted under a per-key lock at the
  database's clock, so the limit is exact across instances and machines, with no
  other server to run. One short write transaction per request.
- `memory://` (the default on SQLite): in the process (InProcessWindows); each
  gunicorn worker counts on its own (N workers allow N times the rate). Not
  `limits`' own in-memory storage: after every hit its asyncio version sweeps every
  key's window, handing each key to a thread, which cost a turn more than the rest
  of the count (docs/BENCHMARKS.md).
- `redis://host:port` (or any storage `limits` has): shared through it.

Concurrent streams are counted in the database in every case
(services/turns/store.py), exact across workers and instances.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from sqlalchemy import Connection, delete, func, insert, select, text

from config import async_storage_url
from models.auth import Caller
from models.rate_hit import rate_hits_table
from services.errors import RateLimited
from services.storage import Database

IN_DATABASE = "database"
IN_PROCESS = "memory://"
# InProcessWindows forgets the keys idle for a whole window every so many counts.
FORGET_EVERY = 1000
H = rate_hits_table.c
_NOW = {
    # the key's lock (held to the transaction's end), then the one clock of all machines
    "postgresql": text(
        "SELECT pg_advisory_xact_lock(hashtextextended(:lock, 0)),"
        " extract(epoch from clock_timestamp())::float8"
    ),
    # BEGIN IMMEDIATE already serializes writers
    "sqlite": text("SELECT 0, (julianday('now') - 2440587.5) * 86400.0 WHERE :lock IS NOT NULL"),
}


@dataclass(frozen=True, slots=True)
class Window:
    label: str  # as configured, e.g. "600 per 1 minute"
    amount: int
    seconds: int


def storage_for(configured: str, dialect: str) -> str:
    """RATE_LIMIT_STORAGE_URL, or its default for this database when unset."""
    if configured:
        return configured
    return IN_DATABASE if dialect == "postgresql" else IN_PROCESS


class InProcessWindows:
    """memory://: each key's request times within its longest window, kept by this
    process, with the same decisions as count_in_database (no thread, no timer)."""

    def __init__(self, windows: list[Window]) -> None:
        self.windows = windows
        self.longest = _longest(windows) if windows else 0
        self.times: dict[str, list[float]] = {}
        self._counted = 0

    def count(self, key: str) -> tuple[str, float] | None:
        """Count a request of `key` unless a window is full: then (its label, the
        seconds until a slot frees)."""
        now = time.monotonic()
        times = self.times.setdefault(key, [])
        del times[: bisect_right(times, now - self.longest)]  # out of every window
        for window in self.windows:
            if len(times) - bisect_right(times, now - window.seconds) >= window.amount:
                oldest_counted = times[-window.amount]
                return window.label, max(1.0, oldest_counted + window.seconds - now)
        times.append(now)
        self._counted += 1
        if self._counted % FORGET_EVERY == 0:
            self.times = {k: t for k, t in self.times.items() if t and t[-1] > now - self.longest}
        return None


class RequestRate:
    def __init__(self, limits: str, storage: str, database: Database | None = None) -> None:
        """`storage`: IN_DATABASE (with `database`) or a `limits` storage URL."""
        self.items = parse_many(limits) if limits else []
        self.windows = [_window(item) for item in self.items]
        self.database = database if storage == IN_DATABASE else None
        self.in_process = InProcessWindows(self.windows) if storage == IN_PROCESS else None
        self.limiter = None
        if self.database is None and self.in_process is None:
            self.limiter = MovingWindowRateLimiter(storage_from_string(async_storage_url(storage)))

    async def count(self, caller: Caller) -> None:
        """Count one request of this key; RateLimited when it is over its limit.

        The anonymous caller (AUTH_MODE=none) is not limited: no key, no tenant.
        """
        if caller.name is None or not self.items:
            return
        if self.in_process is not None:
            refused = self.in_process.count(caller.name)
        elif self.database is not None:
            refused = await self.database.write(count_in_database, caller.name, self.windows)
        else:
            await self._count_in_storage(caller.name)
            return
        if refused is not None:
            raise RateLimited(*refused)

    async def _count_in_storage(self, key: str) -> None:
        """Through a `limits` storage (redis://...)."""
        assert self.limiter is not None
        for item in self.items:
            if not await self.limiter.hit(item, key):
                stats = await self.limiter.get_window_stats(item, key)
                raise RateLimited(str(item), max(1.0, stats.reset_time - time.time()))


def count_in_database(db: Connection, key: str, windows: list[Window]) -> tuple[str, float] | None:
    """Count a request of `key` unless a window is full: then (its label, the seconds
    until a slot frees). One transaction: the key's requests are counted one at a time."""
    now = float(db.execute(_NOW[db.dialect.name], {"lock": f"rate:{key}"}).one()[1])
    db.execute(delete(rate_hits_table).where(H.key == key, H.at <= now - _longest(windows)))
    in_window = [func.count().filter(H.at > now - window.seconds) for window in windows]
    counts = db.execute(select(*in_window).where(H.key == key)).one()
    for window, count in zip(windows, counts, strict=True):
        if count >= window.amount:
            return window.label, _seconds_to_a_free_slot(db, key, window, now)
    db.execute(insert(rate_hits_table).values(key=key, at=now))
    return None


def _seconds_to_a_free_slot(db: Connection, key: str, window: Window, now: float) -> float:
    """When the oldest of the window's newest `amount` requests leaves the window."""
    oldest_counted = db.execute(
        select(H.at)
        .where(H.key == key, H.at > now - window.seconds)
        .order_by(H.at.desc())
        .offset(window.amount - 1)
        .limit(1)
    ).scalar_one()
    return max(1.0, float(oldest_counted) + window.seconds - now)


def _window(item: RateLimitItem) -> Window:
    return Window(str(item), item.amount, item.get_expiry())


def _longest(windows: list[Window]) -> int:
    return max(window.seconds for window in windows)
