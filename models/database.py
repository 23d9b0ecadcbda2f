"""The async engine: URL handling, SQLite pragmas, transactions and schema migrations.

SQLite notes: every connection runs in WAL mode with foreign keys on, a busy
timeout and synchronous=NORMAL. Python's sqlite3 BEGINs lazily (DEFERRED), which
lets two writers both take a read snapshot and then fail to upgrade with "database
is locked" no matter the busy timeout; so we emit BEGIN ourselves and write
transactions use BEGIN IMMEDIATE, which waits on the busy timeout instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

import models.auth
import models.idempotency
import models.message
import models.profile
import models.rate_hit
import models.summary
import models.turn_stop  # noqa: F401  (every table on the metadata, for `alembic revision`)
from models.session import sessions_table

BEGIN_IMMEDIATE = "begin_immediate"  # execution option read by the BEGIN hook
# A worker waits this many busy timeouts for another's upgrade (a slow machine, a
# cold start compiling every module) before its boot fails.
MIGRATE_LOCK_ATTEMPTS = 6
# A bare scheme gets the driver the project pins: aiosqlite, asyncpg (PostgreSQL's
# fastest async driver); psycopg (3) where a synchronous connection is needed.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
}
_SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg"}
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# The schema of databases made before migrations existed (by create_all).
PRE_MIGRATIONS_REVISION = "0001"
# PostgreSQL: the advisory lock a migration holds (DDL is transactional there too).
MIGRATION_LOCK_KEY = 0x636861745F6D6967  # "chat_mig"
REACH_TIMEOUT_SECONDS = 5


def to_async_url(database_url: str) -> str:
    """Accept a bare file path or any SQLAlchemy URL; pick the async driver."""
    if "://" not in database_url:
        return f"sqlite+aiosqlite:///{Path(database_url).expanduser()}"
    url = make_url(database_url)
    driver = _ASYNC_DRIVERS.get(url.drivername)
    return url.set(drivername=driver).render_as_string(False) if driver else database_url


def to_sync_url(database_url: str) -> str:
    """The same database through a sync driver, for the `alembic` command line."""
    url = make_url(to_async_url(database_url))
    driver = _SYNC_DRIVERS.get(url.drivername)
    return url.set(drivername=driver).render_as_string(False) if driver else str(url)


def printable_url(database_url: str) -> str:
    """The URL for a log line or an error: the password masked."""
    if "://" not in database_url:
        return database_url
    return make_url(database_url).render_as_string(hide_password=True)


def unreachable_reason(database_url: str) -> str | None:
    """Why a database server cannot be reached (one line), or None. SQLite files are
    not "reached": their problems surface when the schema is migrated."""
    url = make_url(to_sync_url(database_url))
    if url.get_backend_name() != "postgresql":
        return None
    import psycopg  # only a PostgreSQL deployment needs it loaded

    try:
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        psycopg.connect(conninfo, connect_timeout=REACH_TIMEOUT_SECONDS).close()
    except psycopg.Error as exc:
        return " ".join(str(exc).split())[:300]
    return None


@dataclass(frozen=True)
class PoolSize:
    """A server database's connections per process (SQLite has no pool to size)."""

    size: int = 4
    overflow: int = 4


def unreachable_message(database_url: str) -> str | None:
    """The one line a start that cannot reach its database prints, or None."""
    if reason := unreachable_reason(database_url):
        return f"Cannot reach the database at {printable_url(database_url)}: {reason}"
    return None


def create_engine(
    database_url: str, busy_timeout_ms: int = 5000, pool: PoolSize | None = None
) -> AsyncEngine:
    """Build the process's one engine; SQLite gets its pragmas and explicit BEGINs."""
    url = to_async_url(database_url)
    if make_url(url).get_backend_name() != "sqlite":
        pool = pool or PoolSize()
        # No pre-ping (a round trip per checkout): after a database restart the pool
        # is invalidated by the first failed statement, which answers 503 as any
        # statement during the outage does.
        return create_async_engine(url, pool_size=pool.size, max_overflow=pool.overflow)
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        _install_sqlite_hooks(engine.sync_engine, busy_timeout_ms)
    return engine


def create_sqlite_writer_engine(
    engine: AsyncEngine, busy_timeout_ms: int, checkpoints: bool = True
) -> Engine | None:
    """A synchronous engine on the same SQLite file, for the writer thread and for
    the writes made on the event loop (services/storage.py); None for other
    databases and for in-memory SQLite, where a second engine would open a second,
    empty database. Without `checkpoints` its commits never copy the WAL into the
    database file (and never wait for the disk): the writer thread does that."""
    url = engine.url
    if engine.dialect.name != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    writer = create_sync_engine(
        url.set(drivername="sqlite"), pool_size=1, execution_options={BEGIN_IMMEDIATE: True}
    )
    _install_sqlite_hooks(writer, busy_timeout_ms, checkpoints)
    return writer


def _install_sqlite_hooks(engine: Engine, busy_timeout_ms: int, checkpoints: bool = True) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        # busy_timeout first: switching a new file to WAL needs a lock that
        # another worker starting at the same moment may hold.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if not checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@dataclass(frozen=True)
class Migration:
    """What a migrate() call changed: the schema's revision before and after."""

    from_revision: str | None  # None: a new database
    to_revision: str

    def describe(self) -> str:
        if self.from_revision is None:
            return f"database created at schema revision {self.to_revision}"
        return f"database schema migrated from {self.from_revision} to {self.to_revision}"


async def migrate(engine: AsyncEngine) -> Migration | None:
    """Bring the schema to the newest migration (creating it in a new database);
    what changed, or None when it was already there (the usual start: then Alembic
    is not run at all, and nothing is logged).

    Several workers (gunicorn -w N) start at once on the same file: the whole
    upgrade holds the write lock, so one migrates while the others wait and then
    find nothing to do. SQLite DDL is transactional: a failed upgrade rolls back.
    """
    immediate = engine.execution_options(**{BEGIN_IMMEDIATE: True})
    for attempt in range(MIGRATE_LOCK_ATTEMPTS):
        try:
            async with immediate.begin() as conn:
                return await conn.run_sync(_upgrade_to_head)
        except OperationalError as exc:  # another worker's upgrade outlasted busy_timeout
            if "locked" not in str(exc) or attempt == MIGRATE_LOCK_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _upgrade_to_head(conn: Connection) -> Migration | None:
    if conn.dialect.name == "postgresql":  # instances starting together: one migrates
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None  # migrations/ has a single head
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" not in tables and sessions_table.name in tables:
        command.stamp(config, PRE_MIGRATIONS_REVISION)
    current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return None
    command.upgrade(config, "head")
    return Migration(current, head)
