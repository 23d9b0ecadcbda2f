"""The SQLite file itself: pragmas, constraints and the accepted DATABASE_URL forms."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import httpx
import psycopg
import pytest

from tests.conftest import ROOT, App
from tests.helpers import chat, history

HEAD_REVISION = "0014"


REFUSED = (sqlite3.IntegrityError, psycopg.IntegrityError)


@pytest.mark.sqlite_only("SQLite's own settings: WAL mode and its index list")
def test_sqlite_runs_in_wal_mode_with_its_indexes(app: App) -> None:
    with app.db() as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        indexes = {row[1] for row in db.execute("PRAGMA index_list('sessions')")}
        assert "ix_sessions_last_accessed" in indexes


def test_the_schema_refuses_what_the_service_never_writes(app: App, client: httpx.Client) -> None:
    """The constraints hold in the database itself, whichever it is."""
    reply = chat(client, message="constraints")
    with app.db() as db:
        if not app.on_postgres:
            db.execute("PRAGMA foreign_keys=ON")
        bad_role = (
            "INSERT INTO messages (message_id, session_id, seq, role, content, status, "
            "created_at) VALUES ('m1', ?, 99, 'robot', 'x', 'complete', '2026-01-01')"
        )
        with pytest.raises(REFUSED, match="ck_messages_role"):
            db.execute(bad_role, (reply["session_id"],))
        with pytest.raises(REFUSED, match="ck_messages_status"):
            db.execute(
                bad_role.replace("'robot'", "'user'").replace("'complete'", "'lost'"),
                (reply["session_id"],),
            )
        with pytest.raises(REFUSED, match=r"(?i)unique"):
            db.execute(
                bad_role.replace("'robot'", "'user'").replace("99", "1"),
                (reply["session_id"],),
            )
        with pytest.raises(REFUSED, match=r"(?i)foreign key"):
            db.execute(bad_role.replace("'robot'", "'user'"), ("no-such-session",))


def test_database_url_accepts_a_sqlalchemy_url(make_app, tmp_path) -> None:
    path = tmp_path / "via-url.db"
    app: App = make_app(database_url=f"sqlite:///{path}")
    with app.client() as http:
        reply = chat(http, message="stored via URL")
    with sqlite3.connect(path) as db:
        count = db.execute(
            "SELECT count(*) FROM messages WHERE session_id=?", (reply["session_id"],)
        )
        assert count.fetchone() == (2,)


def test_tables_are_created_in_a_new_directory_file(make_app, tmp_path) -> None:
    app: App = make_app(database_url=str(tmp_path / "fresh.db"))
    with app.client() as http:
        reply = chat(http, message="first ever")
        assert len(history(http, reply["session_id"])) == 2


def test_a_migration_is_logged_once_and_a_start_without_one_says_nothing(make_app) -> None:
    app: App = make_app()
    app.restart()
    log = app.output()
    assert log.count("database created at schema revision") == 1
    assert "migrated" not in log
    assert "alembic" not in log  # its INFO lines ("Context impl SQLiteImpl.") are noise


def test_cors_allows_only_listed_origins(make_app) -> None:
    app: App = make_app(cors_origins="http://a.example, http://b.example")
    preflight = {"Access-Control-Request-Method": "POST"}
    with app.client() as http:
        allowed = http.options("/api/chat", headers={"Origin": "http://b.example", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "http://b.example"
        refused = http.options("/api/chat", headers={"Origin": "http://evil.example", **preflight})
        assert "access-control-allow-origin" not in refused.headers


_MIGRATE_SCRIPT = """
import asyncio, sys
from models.database import create_engine, migrate

async def main() -> None:
    engine = create_engine(sys.argv[1])
    migration = await migrate(engine)
    print(migration.describe() if migration else "nothing to do")
    await engine.dispose()

asyncio.run(main())
"""


@pytest.mark.slow
def test_workers_starting_together_all_migrate(tmp_path) -> None:
    """gunicorn -w N boots N workers at once on one new file: none may fail its boot."""
    for attempt in range(3):
        database = tmp_path / f"race{attempt}.db"
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _MIGRATE_SCRIPT, str(database)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        outputs = [worker.communicate(timeout=60) for worker in workers]
        ended = zip(workers, outputs, strict=True)
        failures = "\n".join(err for worker, (_, err) in ended if worker.returncode)
        assert not failures, failures  # whole tracebacks, not a truncated list
        said = sorted(out.strip() for out, _ in outputs)
        assert (
            said == [f"database created at schema revision {HEAD_REVISION}"] + ["nothing to do"] * 5
        )
        with sqlite3.connect(database) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            version = db.execute("SELECT version_num FROM alembic_version").fetchall()
        assert {"sessions", "messages", "turn_stops"} <= tables
        assert version == [(HEAD_REVISION,)]


def test_a_database_from_before_migrations_is_upgraded_with_its_data(tmp_path) -> None:
    """Files made by create_all (no alembic_version) are stamped 0001, then upgraded."""
    database = tmp_path / "old.db"
    with sqlite3.connect(database) as db:
        db.executescript(_PRE_MIGRATIONS_SCHEMA)
    done = subprocess.run(
        [sys.executable, "-c", _MIGRATE_SCRIPT, str(database)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == f"database schema migrated from 0001 to {HEAD_REVISION}"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT content, delta_lengths FROM messages").fetchall() == [
            ("kept", None)
        ]
        version = db.execute("SELECT version_num FROM alembic_version").fetchall()
    assert version == [(HEAD_REVISION,)]


_PRE_MIGRATIONS_SCHEMA = """
CREATE TABLE sessions (session_id VARCHAR(36) PRIMARY KEY, created_at DATETIME NOT NULL,
  last_accessed DATETIME NOT NULL, metadata JSON NOT NULL, system_prompt VARCHAR,
  message_count INTEGER NOT NULL, last_seq INTEGER NOT NULL);
CREATE TABLE messages (message_id VARCHAR(36) PRIMARY KEY, session_id VARCHAR(36) NOT NULL
  REFERENCES sessions (session_id) ON DELETE CASCADE, seq INTEGER NOT NULL,
  role VARCHAR NOT NULL, content VARCHAR NOT NULL, status VARCHAR NOT NULL,
  created_at DATETIME NOT NULL, token_usage JSON, finish_reason VARCHAR, error VARCHAR,
  CONSTRAINT uq_messages_session_seq UNIQUE (session_id, seq));
INSERT INTO sessions VALUES ('s1', '2026-01-01 00:00:00', '2026-01-01 00:00:00', '{}', NULL, 1, 1);
INSERT INTO messages VALUES ('m1', 's1', 1, 'user', 'kept', 'complete',
  '2026-01-01 00:00:00', NULL, NULL, NULL);
"""


def test_migrations_build_exactly_the_schema_the_models_declare(tmp_path) -> None:
    """A model change without its migration (or the reverse) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    import models.database  # noqa: F401  (registers every table)
    from models.search import SEARCH_TABLE_NAMES

    def declared(name: str | None, kind: str, _parents: object) -> bool:
        return not (kind == "table" and name in SEARCH_TABLE_NAMES)  # FTS5, by 0014

    database = tmp_path / "fresh.db"
    subprocess.run([sys.executable, "-c", _MIGRATE_SCRIPT, str(database)], cwd=ROOT, check=True)
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": declared})
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == []


_WRITE_PATHS_SCRIPT = """
import asyncio, sys, threading, time
from sqlalchemy import select
from models.database import migrate
from models.session import sessions_table
from models.auth import anonymous
from services.session_writes import insert_session
from services.storage import Database

def new_session(conn, name, pause=0.0):
    insert_session(conn, anonymous(), {"name": name}, None)
    time.sleep(pause)  # a slow write: the caller gives up while it runs
    return threading.current_thread().name

async def main() -> None:
    database = Database.open(sys.argv[1])
    await migrate(database.engine)
    print(await database.write(new_session, "fast"))
    slow = asyncio.create_task(database.write(new_session, "slow", pause=0.5))
    await asyncio.sleep(0.1)
    slow.cancel()
    await asyncio.sleep(0.6)
    async with database.read() as conn:
        stored = (await conn.execute(select(sessions_table.c.metadata))).scalars()
        print(",".join(sorted(meta["name"] for meta in stored)))
    await database.close()

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("database", "thread"),
    [("file", "sqlite-writer"), (":memory:", "MainThread")],
    ids=["file-writer-thread", "in-memory-async-path"],
)
def test_writes_commit_whole_even_when_the_caller_is_cancelled(tmp_path, database, thread) -> None:
    """A SQLite file's writes run in its writer thread; other databases (here in-memory
    SQLite, like PostgreSQL) in an async transaction. A write that has started ends
    committed even though its caller was cancelled: never half a transaction."""
    target = str(tmp_path / "writes.db") if database == "file" else database
    run = subprocess.run(
        [sys.executable, "-c", _WRITE_PATHS_SCRIPT, target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    ran_in, stored = run.stdout.split()
    assert ran_in.startswith(thread)
    assert stored == "fast,slow"


_WRITE_NOW_SCRIPT = """
import asyncio, sqlite3, sys, threading
from models.database import migrate
from models.auth import anonymous
from services.session_writes import insert_session
from services.storage import CHECKPOINT_EVERY, Database

def new_session(conn, name):
    insert_session(conn, anonymous(), {"name": name, "pad": "x" * 4000}, None)
    return threading.current_thread().name

async def main() -> None:
    path = sys.argv[1]
    database = Database.open(path)
    await migrate(database.engine)
    print(await database.write_now(new_session, "free"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    waiting = asyncio.create_task(database.write_now(new_session, "held"))
    await asyncio.sleep(0.3)
    print(waiting.done())
    other.execute("COMMIT")
    print(await waiting)
    before = Path(path).stat().st_size
    for n in range(2 * CHECKPOINT_EVERY):
        await database.write_now(new_session, f"n{n}")
    await asyncio.sleep(0.5)  # the writer thread's checkpoint
    print(Path(path).stat().st_size - before > CHECKPOINT_EVERY * 4000)
    print(other.execute("SELECT count(*) FROM sessions").fetchone()[0])
    await database.close()

from pathlib import Path
asyncio.run(main())
"""


@pytest.mark.sqlite_only("the SQLite file's writers: the event loop's connection and the thread")
def test_a_turns_writes_run_on_the_loop_and_wait_in_the_thread_when_the_lock_is_held(
    tmp_path,
) -> None:
    """write_now runs on the event loop's thread while SQLite's write lock is free;
    with the lock held elsewhere it neither fails nor blocks the loop: it waits in
    the writer thread and commits once the lock is free. Its commits leave the WAL
    to the thread's checkpoints, which copy it into the database file."""
    run = subprocess.run(
        [sys.executable, "-c", _WRITE_NOW_SCRIPT, str(tmp_path / "now.db")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    free, waited, held, checkpointed, count = run.stdout.split()
    assert free == "MainThread"
    assert (waited, held) == ("False", "sqlite-writer_0")
    assert checkpointed == "True"
    assert int(count) == 2 + 400
