"""`python main.py copy-database --to URL`: move a SQLite database into PostgreSQL.

How a user outgrows one machine without losing history: every table (sessions,
messages with their tree, summaries, profiles and tags, keys, audit, idempotency
keys, pending stops) is copied row by row into an empty PostgreSQL database that
has the same schema (both are brought to the newest migration first).

- One moment's state: the source is read inside one SQLite read transaction (a WAL
  snapshot), so the service may keep serving meanwhile; turns after that moment are
  not in the copy (stop the service first to move everything).
- All or nothing: the target is written in one transaction, and committed only
  when every table's row count equals the source's. A target with any row in any
  table is refused: the copy never merges into, or overwrites, someone's data.
- A NUL character (U+0000), which older versions stored and no PostgreSQL text
  column can hold, becomes U+FFFD; the report says how many values changed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Integer, Table, func, insert, inspect, select, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from models.database import printable_url, to_sync_url, unreachable_reason
from models.text import storable

BATCH_ROWS = 2000


class CopyError(Exception):
    """The copy cannot be made; the message says why. Nothing was written."""


@dataclass
class CopyReport:
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    nul_replaced: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        counts = ", ".join(f"{count} {name}" for name, count in self.rows.items())
        note = f"; {self.nul_replaced} NUL character(s) became U+FFFD" if self.nul_replaced else ""
        return f"copied {counts} to {self.target} in {self.seconds:.1f} s{note}"


def check_endpoints(source_url: str, target_url: str) -> None:
    """SQLite in, PostgreSQL out, and the target reachable; CopyError otherwise."""
    if make_url(to_sync_url(source_url)).get_backend_name() != "sqlite":
        raise CopyError("copy-database copies from a SQLite DATABASE_URL; this one is not")
    if make_url(to_sync_url(target_url)).get_backend_name() != "postgresql":
        raise CopyError("--to must be a postgresql:// URL")
    if reason := unreachable_reason(target_url):
        raise CopyError(f"cannot reach {printable_url(target_url)}: {reason}")
    target = create_sync_engine(to_sync_url(target_url))
    try:
        with target.connect() as conn:
            foreign = set(inspect(conn).get_table_names()) - set(SQLModel.metadata.tables)
    finally:
        target.dispose()
    if foreign - {"alembic_version"}:
        raise CopyError(
            f"the target database holds other tables ({', '.join(sorted(foreign)[:5])}); "
            "copy into a new, empty database (createdb)"
        )


def copy_database(source_url: str, target_url: str) -> CopyReport:
    """Copy every table; both schemas must already be at the newest migration."""
    started = time.perf_counter()
    report = CopyReport(printable_url(target_url))
    source = create_sync_engine(to_sync_url(source_url), isolation_level="AUTOCOMMIT")
    target = create_sync_engine(to_sync_url(target_url))
    try:
        with source.connect() as reading, target.begin() as writing:
            reading.exec_driver_sql("BEGIN")  # one snapshot for every table
            _refuse_a_non_empty_target(writing)
            for table in SQLModel.metadata.sorted_tables:
                report.rows[table.name] = _copy_table(reading, writing, table, report)
            _advance_sequences(writing)
            reading.exec_driver_sql("ROLLBACK")
    finally:
        source.dispose()
        target.dispose()
    report.seconds = time.perf_counter() - started
    return report


def _refuse_a_non_empty_target(writing: Connection) -> None:
    for table in SQLModel.metadata.sorted_tables:
        if writing.execute(select(table).limit(1)).first() is not None:
            raise CopyError(
                f"the target database is not empty (table {table.name} has rows); "
                "copy-database only fills an empty database"
            )


def _copy_table(reading: Connection, writing: Connection, table: Table, report: CopyReport) -> int:
    copied = 0
    for batch in _batches(reading, table):
        rows = [_storable_row(row, report) for row in batch]
        writing.execute(insert(table), rows)
        copied += len(rows)
    expected = reading.execute(select(func.count()).select_from(table)).scalar_one()
    written = writing.execute(select(func.count()).select_from(table)).scalar_one()
    if not copied == expected == written:
        raise CopyError(
            f"table {table.name}: {expected} rows in the source, {written} written; "
            "nothing was committed"
        )
    return copied


def _batches(reading: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    result = reading.execution_options(yield_per=BATCH_ROWS).execute(select(table))
    for partition in result.mappings().partitions():
        yield [dict(row) for row in partition]


def _storable_row(row: dict[str, Any], report: CopyReport) -> dict[str, Any]:
    for name, value in row.items():
        if isinstance(value, str) and "\x00" in value:
            row[name] = storable(value)
            report.nul_replaced += 1
    return row


def _advance_sequences(writing: Connection) -> None:
    """Copied ids were given explicitly: move each serial's sequence past them."""
    for table in SQLModel.metadata.sorted_tables:
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                writing.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'),"
                        f" coalesce(max({column.name}), 1), max({column.name}) IS NOT NULL)"
                        f" FROM {table.name}"
                    )
                )
