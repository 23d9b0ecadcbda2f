"""The process's database: reads on the async engine, writes as one-call transactions.

A write is a plain function of a synchronous connection, run as one transaction
and committed when it returns. On a SQLite file it runs in this process's one
writer thread, on a synchronous connection: the whole transaction is one hand-over
between threads. Through aiosqlite every statement is four (cursor, execute, fetch,
close), each waiting for the event loop's attention and the GIL while the
transaction holds SQLite's only write lock; that wait, not the work, set the pace
of concurrent turns (docs/BENCHMARKS.md). The thread also queues this process's
writers, so they never meet SQLite's busy handler, which sleeps 1-100 ms between
retries; the busy timeout still arbitrates between processes (gunicorn workers).
Other databases run the same function inside an async transaction (run_sync).

A write that has started always runs to its end, committed or rolled back as a
whole: a caller cancelled meanwhile (a client gone, a shutdown) cannot cut it in
half. Database failures surface as one domain error, DatabaseUnavailable (503).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DatabaseError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.database import BEGIN_IMMEDIATE, create_engine, create_sqlite_writer_engine
from services.errors import DatabaseUnavailable

P = ParamSpec("P")
T = TypeVar("T")
_FAILURES = (OperationalError, InterfaceError, DatabaseError)


class Database:
    """Opened once in the lifespan and handed to the services; closed at shutdown."""

    def __init__(self, engine: AsyncEngine, writer: Engine | None = None) -> None:
        self.engine = engine
        self._writer = writer
        self._writer_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
            if writer is not None
            else None
        )

    @classmethod
    def open(cls, database_url: str, busy_timeout_ms: int = 5000) -> Database:
        """Build the engines; nothing connects until the first query."""
        engine = create_engine(database_url, busy_timeout_ms)
        return cls(engine, create_sqlite_writer_engine(engine, busy_timeout_ms))

    async def write(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(connection, *args, **kwargs)` in one write transaction; its result."""

        def call(conn: Connection) -> T:
            return work(conn, *args, **kwargs)

        try:
            if self._writer_thread is not None:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._writer_thread, self._transaction, call)
            return await asyncio.shield(self._async_transaction(call))
        except IntegrityError:
            raise  # a bug of ours, not an unavailable database
        except _FAILURES as exc:
            raise DatabaseUnavailable(_describe(exc)) from exc

    def _transaction(self, call: Callable[[Connection], T]) -> T:
        """In the writer thread: BEGIN IMMEDIATE, the work, COMMIT (ROLLBACK if it raised)."""
        assert self._writer is not None
        with self._writer.begin() as conn:
            return call(conn)

    async def _async_transaction(self, call: Callable[[Connection], T]) -> T:
        """Other databases: the same work through run_sync, shielded by the caller."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**{BEGIN_IMMEDIATE: True})
            async with conn.begin():
                return await conn.run_sync(call)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; nothing it does is committed."""
        try:
            async with self.engine.connect() as conn:
                yield conn
        except IntegrityError:
            raise  # a bug of ours, not an unavailable database
        except _FAILURES as exc:
            raise DatabaseUnavailable(_describe(exc)) from exc

    async def close(self) -> None:
        """Waits for the writes queued before it; the writer's connection closes in
        its own thread."""
        if self._writer is not None and self._writer_thread is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._writer_thread, self._writer.dispose)
            self._writer_thread.shutdown()
        await self.engine.dispose()


def _describe(exc: Exception) -> str:
    """The driver's own one-line reason (e.g. 'database or disk is full'), no SQL."""
    original = getattr(exc, "orig", None) or exc
    return f"Database unavailable: {str(original).splitlines()[0][:200]}"
