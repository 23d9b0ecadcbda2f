"""Messages between the instances sharing one PostgreSQL database: LISTEN/NOTIFY.

Several instances (processes, machines) behind one load balancer share nothing but
the database; a stop or a resume may reach one that does not own the turn. On
PostgreSQL each process keeps two connections of its own beside the pool: one
LISTENs on the service's channels and hands each notification to the handlers
registered for its channel, one sends (NOTIFY is a statement; asyncpg runs one at
a time per connection, so sends take turns). Nothing here is needed for
correctness: a notification lost (the listener reconnecting after a database
restart) is made up by the slower polling the callers keep as their fallback, and
SQLite, one machine, has no bus at all (`NoBus`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

Handler = Callable[[str], None]
RECONNECT_SECONDS = 1.0
# NOTIFY's payload limit is 8000 bytes; senders split their messages below this.
MAX_PAYLOAD_BYTES = 7500


class NoBus:
    """One machine, one database file: nothing to tell anyone (SQLite)."""

    available = False

    def subscribe(self, channel: str, handler: Handler) -> Callable[[], None]:
        return lambda: None

    def on_reconnect(self, handler: Callable[[], None]) -> None:
        """Nothing reconnects."""

    async def publish(self, channel: str, payload: str) -> bool:
        return False

    async def start(self) -> None:
        """Nothing to start."""

    async def close(self) -> None:
        """Nothing to close."""


class PostgresBus(NoBus):
    """LISTEN on one connection, NOTIFY on another; reconnects on its own."""

    available = True

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._handlers: dict[str, list[Handler]] = {}
        self._reconnected: list[Callable[[], None]] = []
        self._listener: asyncpg.Connection | None = None
        self._sender: asyncpg.Connection | None = None
        self._send_lock = asyncio.Lock()
        self._keeper: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    def subscribe(self, channel: str, handler: Handler) -> Callable[[], None]:
        """Call `handler(payload)` for each notification on `channel`; the returned
        function unsubscribes. Channels are fixed names, listened to from start()."""
        handlers = self._handlers.setdefault(channel, [])
        handlers.append(handler)
        return lambda: handlers.remove(handler) if handler in handlers else None

    def on_reconnect(self, handler: Callable[[], None]) -> None:
        """Called after the listener came back: what was sent meanwhile is lost."""
        self._reconnected.append(handler)

    async def start(self) -> None:
        """Listen now if the database answers; keep trying in the background if not."""
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await self._listen()
        self._keeper = asyncio.create_task(self._keep_listening(), name="bus listener")

    async def publish(self, channel: str, payload: str) -> bool:
        """NOTIFY; False when it could not be sent (the fallbacks will do)."""
        try:
            async with self._send_lock:
                if self._sender is None or self._sender.is_closed():
                    self._sender = await asyncpg.connect(self._dsn, timeout=2)
                await self._sender.execute("SELECT pg_notify($1, $2)", channel, payload)
            return True
        except Exception as exc:  # best effort by design: the callers' fallbacks do the rest
            log.debug("NOTIFY %s not sent: %s", channel, exc)
            self._sender = None
            return False

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        for conn in (self._listener, self._sender):
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), timeout=2)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=5)
        for channel in self._handlers:
            await conn.add_listener(channel, self._dispatch)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        self._listener = conn
        self._lost.clear()

    async def _keep_listening(self) -> None:
        """Reconnect whenever the listener is lost (a database restart)."""
        while True:
            if self._listener is not None and not self._listener.is_closed():
                await self._lost.wait()
            self._listener = None
            await asyncio.sleep(RECONNECT_SECONDS)
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.debug("bus listener not back yet: %s", exc)
                continue
            log.info("bus listener reconnected")
            for handler in self._reconnected:
                handler()

    def _dispatch(self, _conn: Any, _pid: int, channel: str, payload: object) -> None:
        for handler in list(self._handlers.get(channel, ())):
            try:
                handler(str(payload))
            except Exception:  # one handler's bug must not silence the others
                log.exception("bus handler for %s failed", channel)


def create_bus(database_url: str, dialect: str) -> NoBus:
    return PostgresBus(database_url) if dialect == "postgresql" else NoBus()
