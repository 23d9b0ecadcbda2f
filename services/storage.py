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

A turn's own small transactions (`write_now`: its first, its checkpoints, its
last) skip even the hand-over: they run on the event loop's thread, since SQLite's
work for them (about 0.1 ms) costs less than the hand-over and the GIL passing
between the threads at every statement (docs/BENCHMARKS.md). That connection never
waits: with a busy timeout of 0, a write that finds the write lock taken (by the
writer thread, or another process) is rolled back, tried again once the thread's
queue has ended, and then queued in the writer thread, which waits. Its commits
never copy the WAL into the database file either (that can wait on the disk): the
writer thread checkpoints every CHECKPOINT_EVERY of them.

A write that has started always runs to its end, committed or rolled back as a
whole: a caller cancelled meanwhile (a client gone, a shutdown) cannot cut it in
half. Database failures surface as one domain error, DatabaseUnavailable (503).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable

from models.database import (
    BEGIN_IMMEDIATE,
    PoolSize,
    create_engine,
    create_sqlite_writer_engine,
)
from services.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
# OSError: a database server that refuses or drops the connection (asyncpg raises
# ConnectionRefusedError and the like as they are, before SQLAlchemy wraps anything).
# DBAPIError itself: what asyncpg's adapter raises when the server drops a connection.
_FAILURES = (DBAPIError, OSError)
# Writes on the event loop's connection between two checkpoints in the writer thread.
CHECKPOINT_EVERY = 200


class Database:
    """Opened once in the lifespan and handed to the services; closed at shutdown."""

    def __init__(
        self, engine: AsyncEngine, writer: Engine | None = None, here: Engine | None = None
    ) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=False)
        self._writer = _WriterThread(writer, here) if writer is not None else None
        # Told each write's seconds, from asking to committed or failed (metrics).
        self.observe_write: Callable[[float], None] | None = None

    @classmethod
    def open(
        cls, database_url: str, busy_timeout_ms: int = 5000, pool: PoolSize | None = None
    ) -> Database:
        """Build the engines; nothing connects until the first query."""
        engine = create_engine(database_url, busy_timeout_ms, pool)
        writer = create_sqlite_writer_engine(engine, busy_timeout_ms)
        here = create_sqlite_writer_engine(engine, 0, checkpoints=False)
        return cls(engine, writer, here)

    async def write(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(connection, *args, **kwargs)` in one write transaction; its result."""
        return await self._write(lambda conn: work(conn, *args, **kwargs), now=False)

    async def write_now(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`write` for a small transaction on a turn's path: on a SQLite file it runs
        on the event loop's own thread when the write lock is free (see the module's
        docstring). Not for a write whose size the caller does not bound: the loop
        serves nothing else meanwhile."""
        return await self._write(lambda conn: work(conn, *args, **kwargs), now=True)

    async def _write(self, call: Callable[[Connection], T], now: bool) -> T:
        began = time.perf_counter()
        try:
            with _translated_failures():
                if self._writer is not None:
                    return await (self._writer.run_here(call) if now else self._writer.run(call))
                return await asyncio.shield(self._async_transaction(call))
        finally:
            if self.observe_write is not None:
                self.observe_write(time.perf_counter() - began)

    async def _async_transaction(self, call: Callable[[Connection], T]) -> T:
        """Other databases: the same work through run_sync, shielded by the caller."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**{BEGIN_IMMEDIATE: True})
            async with conn.begin():
                return await conn.run_sync(call)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; nothing it does is committed."""
        with _translated_failures():
            async with self.engine.connect() as conn:
                yield conn

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        await self.engine.dispose()


class _WriterThread:
    """SQLite's writers in this process: a thread with its own sync connection, and
    the event loop's connection (`here`) that hands to the thread what would wait."""

    def __init__(self, engine: Engine, here: Engine | None = None) -> None:
        self.engine = engine
        self.here = here
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._written_here = 0
        self._checkpoint: Future[None] | None = None

    async def run(self, call: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self.thread, self._transaction, call
        )

    async def run_here(self, call: Callable[[Connection], T]) -> T:
        """On this thread if SQLite's write lock is free; when it is not, again once
        the writes queued in the thread have ended (they would take every later
        write along with them), then queued there. A write that met the lock
        mid-way was rolled back whole: it runs again."""
        if self.here is not None:
            for attempt in range(2):
                try:
                    with self.here.begin() as conn:
                        result = call(conn)
                except OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    if attempt == 0:
                        await self.run_after_queued(lambda: None)
                else:
                    self._after_write_here()
                    return result
        return await self.run(call)

    async def run_after_queued(self, work: Callable[[], T]) -> T:
        """`work` in the thread, once the writes queued before it have ended."""
        return await asyncio.get_running_loop().run_in_executor(self.thread, work)

    def _after_write_here(self) -> None:
        """Every CHECKPOINT_EVERY writes, a checkpoint in the thread (one at a time)."""
        self._written_here += 1
        if self._written_here % CHECKPOINT_EVERY:
            return
        if self._checkpoint is None or self._checkpoint.done():
            self._checkpoint = self.thread.submit(self._copy_wal)

    def _copy_wal(self) -> None:
        """In the thread: copy what the WAL holds into the database file (PASSIVE:
        it waits for no reader or writer). A failure is tried again next time."""
        raw = self.engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")  # type: ignore[union-attr]
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint failed (tried again later): %s", exc)
        finally:
            raw.close()

    def _transaction(self, call: Callable[[Connection], T]) -> T:
        """In the thread: BEGIN IMMEDIATE, the work, COMMIT (ROLLBACK if it raised)."""
        with self.engine.begin() as conn:
            return call(conn)

    async def close(self) -> None:
        """After the writes queued before it; the connection closes in its own thread."""
        if self.here is not None:
            self.here.dispose()
        await asyncio.get_running_loop().run_in_executor(self.thread, self.engine.dispose)
        self.thread.shutdown()


def _is_busy(exc: OperationalError) -> bool:
    """SQLite's write lock is held elsewhere (SQLITE_BUSY and its extended codes)."""
    code = getattr(exc.orig, "sqlite_errorcode", 0)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


@contextmanager
def _translated_failures() -> Iterator[None]:
    """A locked, unwritable, full, corrupt or unreachable database becomes
    DatabaseUnavailable."""
    try:
        yield
    except IntegrityError:
        raise  # a bug of ours, not an unavailable database
    except _FAILURES as exc:
        raise DatabaseUnavailable(_describe(exc)) from exc


def _describe(exc: Exception) -> str:
    """The driver's own one-line reason (e.g. 'database or disk is full'), no SQL."""
    original = getattr(exc, "orig", None) or exc
    return f"Database unavailable: {str(original).splitlines()[0][:200]}"


# Works of one statement, for Database.write.


def execute(db: Connection, statement: Executable) -> None:
    db.execute(statement)


def execute_many(db: Connection, statement: Executable, rows: list[dict[str, Any]]) -> None:
    """One statement for many parameter sets (executemany)."""
    db.execute(statement, rows)


def rows_changed(db: Connection, statement: Executable) -> int:
    return int(db.execute(statement).rowcount)


def first_row(db: Connection, statement: Executable) -> dict[str, Any] | None:
    row = db.execute(statement).mappings().first()
    return None if row is None else dict(row)
