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
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.base import Executable

from models.database import (
    BEGIN_IMMEDIATE,
    PoolSize,
    create_engine,
    create_sqlite_writer_engine,
)
from services.errors import DatabaseUnavailable

P = ParamSpec("P")
T = TypeVar("T")
# OSError: a database server that refuses or drops the connection (asyncpg raises
# ConnectionRefusedError and the like as they are, before SQLAlchemy wraps anything).
# DBAPIError itself: what asyncpg's adapter raises when the server drops a connection.
_FAILURES = (DBAPIError, OSError)


class Database:
    """Opened once in the lifespan and handed to the services; closed at shutdown."""

    def __init__(self, engine: AsyncEngine, writer: Engine | None = None) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=False)
        self._writer = _WriterThread(writer) if writer is not None else None

    @classmethod
    def open(
        cls, database_url: str, busy_timeout_ms: int = 5000, pool: PoolSize | None = None
    ) -> Database:
        """Build the engines; nothing connects until the first query."""
        engine = create_engine(database_url, busy_timeout_ms, pool)
        return cls(engine, create_sqlite_writer_engine(engine, busy_timeout_ms))

    async def write(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(connection, *args, **kwargs)` in one write transaction; its result."""

        def call(conn: Connection) -> T:
            return work(conn, *args, **kwargs)

        with _translated_failures():
            if self._writer is not None:
                return await self._writer.run(call)
            return await asyncio.shield(self._async_transaction(call))

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
    """SQLite's one writer in this process: a thread with its own sync connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    async def run(self, call: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self.thread, self._transaction, call
        )

    def _transaction(self, call: Callable[[Connection], T]) -> T:
        """In the thread: BEGIN IMMEDIATE, the work, COMMIT (ROLLBACK if it raised)."""
        with self.engine.begin() as conn:
            return call(conn)

    async def close(self) -> None:
        """After the writes queued before it; the connection closes in its own thread."""
        await asyncio.get_running_loop().run_in_executor(self.thread, self.engine.dispose)
        self.thread.shutdown()


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
