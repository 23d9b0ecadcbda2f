"""The async engine: URL handling, SQLite pragmas, transactions and table creation.

SQLite notes: every connection runs in WAL mode with foreign keys on, a busy
timeout and synchronous=NORMAL. Python's sqlite3 BEGINs lazily (DEFERRED), which
lets two writers both take a read snapshot and then fail to upgrade with "database
is locked" no matter the busy timeout; so we emit BEGIN ourselves and write
transactions use BEGIN IMMEDIATE, which waits on the busy timeout instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from models.message import messages_table
from models.session import sessions_table

TABLES = [sessions_table, messages_table]
BEGIN_IMMEDIATE = "begin_immediate"  # execution option read by the BEGIN hook
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite"}


def to_async_url(database_url: str) -> str:
    """Accept a bare file path or any SQLAlchemy URL; pick the async driver."""
    if "://" not in database_url:
        return f"sqlite+aiosqlite:///{Path(database_url).expanduser()}"
    url = make_url(database_url)
    driver = _ASYNC_DRIVERS.get(url.drivername)
    return url.set(drivername=driver).render_as_string(False) if driver else database_url


def create_engine(database_url: str, busy_timeout_ms: int = 5000) -> AsyncEngine:
    """Build the process's one engine; SQLite gets its pragmas and explicit BEGINs."""
    engine = create_async_engine(to_async_url(database_url))
    if engine.dialect.name == "sqlite":
        _install_sqlite_hooks(engine, busy_timeout_ms)
    return engine


def _install_sqlite_hooks(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        # busy_timeout first: switching a new file to WAL needs a lock that
        # another worker starting at the same moment may hold.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def create_tables(engine: AsyncEngine) -> None:
    """Create missing tables and indexes; existing ones are left untouched.

    Several workers (gunicorn -w N) start at once on the same new file: the
    check-then-create must hold the write lock throughout, or the loser of the
    race fails its boot with "database is locked" and takes the master down.
    """
    immediate = engine.execution_options(**{BEGIN_IMMEDIATE: True})
    async with immediate.begin() as conn:
        await conn.run_sync(_create_missing)


def _create_missing(conn: Connection) -> None:
    """create_all skips tables that exist, and with them any index added since."""
    SQLModel.metadata.create_all(conn, tables=TABLES)
    for table in TABLES:
        for index in table.indexes:
            index.create(conn, checkfirst=True)
