"""`python main.py backup PATH`: a consistent copy of the live SQLite database.

SQLite's online backup API copies the file page by page inside one read
transaction. In WAL mode readers never block writers, so the service keeps
serving while the copy is made, and the copy is the database as of one moment:
every turn in it whole or absent, never half of one. The copy is written beside
PATH and renamed into place only after `PRAGMA integrity_check` says ok, so PATH
is a complete backup or nothing.

Restore: stop the service, replace the database file with the backup (and remove
the old file's `-wal` and `-shm` companions), start the service.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from models.database import to_async_url


class BackupError(Exception):
    """The backup cannot be made; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    path: Path
    bytes: int
    sessions: int
    messages: int


def sqlite_file(database_url: str) -> Path:
    """The database file behind DATABASE_URL; BackupError for anything else."""
    url = make_url(to_async_url(database_url))
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"backup copies SQLite files; for {url.get_backend_name()} use its own tools "
            "(pg_dump for PostgreSQL)"
        )
    if url.database in (None, "", ":memory:"):
        raise BackupError("an in-memory database has no file to back up")
    return Path(url.database)


def backup(database_url: str, target: Path) -> BackupReport:
    """Copy the live database to `target`, which must not exist yet."""
    source_path = sqlite_file(database_url)
    if not source_path.is_file():
        raise BackupError(f"no database file at {source_path}")
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new path")
    if not target.parent.is_dir():
        raise BackupError(f"no directory {target.parent}")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        sessions, messages = _copy(source_path, partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(f"backup failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)  # gone already when the copy was moved into place
    return BackupReport(target, target.stat().st_size, sessions, messages)


def _copy(source_path: Path, partial: Path) -> tuple[int, int]:
    """Copy, check and count; the copy's sessions and messages."""
    source = sqlite3.connect(source_path)
    copy = sqlite3.connect(partial)
    try:
        source.execute("PRAGMA busy_timeout=5000")
        # All pages in one step, in one read transaction: copied in several steps,
        # a write by the service between two of them would restart the copy.
        source.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        (verdict,) = copy.execute("PRAGMA integrity_check").fetchone()
        if verdict != "ok":
            raise BackupError(f"the copy failed its integrity check: {verdict}")
        sessions = copy.execute("SELECT count(*) FROM sessions").fetchone()[0]
        messages = copy.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        copy.close()
        source.close()
    return sessions, messages
