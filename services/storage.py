"""Transactions, with database failures translated into DatabaseUnavailable (503).

A locked, unwritable, full or corrupt database surfaces from SQLAlchemy as an
OperationalError or DatabaseError; above this module it is one domain error.

SQLite takes one writer at a time. Writers of one process queue on an asyncio
lock instead of on SQLite's busy handler, which sleeps 1, 2, 5, 10... 100 ms
between retries: under concurrent turns that sleep, not the work, set the pace
(measured: see the commit that added the lock). The busy timeout still arbitrates
between processes (gunicorn workers).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

from sqlalchemy.exc import DatabaseError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from models.database import BEGIN_IMMEDIATE
from services.errors import DatabaseUnavailable

_FAILURES = (OperationalError, InterfaceError, DatabaseError)
# One lock per engine (an app has one engine; tests and tools may make several).
_WRITE_LOCKS: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


def _writer_turn(engine: AsyncEngine) -> AbstractAsyncContextManager[object]:
    """This process's queue for SQLite's single writer; no queue for other databases."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    lock = _WRITE_LOCKS.get(engine)
    if lock is None:
        lock = _WRITE_LOCKS[engine] = asyncio.Lock()
    return lock


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that takes the write lock up front and commits on exit."""
    try:
        async with _writer_turn(engine), engine.connect() as conn:
            await conn.execution_options(**{BEGIN_IMMEDIATE: True})
            async with conn.begin():
                yield conn
    except IntegrityError:
        raise  # a bug of ours, not an unavailable database
    except _FAILURES as exc:
        raise DatabaseUnavailable(_describe(exc)) from exc


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads; nothing it does is committed."""
    try:
        async with engine.connect() as conn:
            yield conn
    except IntegrityError:
        raise  # a bug of ours, not an unavailable database
    except _FAILURES as exc:
        raise DatabaseUnavailable(_describe(exc)) from exc


def _describe(exc: Exception) -> str:
    """The driver's own one-line reason (e.g. 'database or disk is full'), no SQL."""
    original = getattr(exc, "orig", None) or exc
    return f"Database unavailable: {str(original).splitlines()[0][:200]}"
