"""The statements of a turn and of the tree read through indexes: SQLite's own
query plans, on a freshly migrated database, never scan the messages table; on
PostgreSQL, whose planner picks a scan for a small table by its statistics, the
plan with scans made dear (enable_seqscan off) shows an index serves each statement
without a sort. (The cost of a turn flat in a session's size rests on this; bench/
measures it.)"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.dialects import postgresql, sqlite

from services.branches import newest_below
from services.tree import PATH_PAGE, WINDOW, page_params, siblings_query, window_params
from services.turns.placement import ACTIVE_TURN, IN_SESSION
from services.turns.status import newest_reply_query
from tests.conftest import ROOT
from tests.postgres import PostgresServer
from tests.test_storage import _MIGRATE_SCRIPT

STATEMENTS: dict[str, tuple[Any, dict[str, Any]]] = {
    "active turn": (ACTIVE_TURN, {"t_session": "s"}),
    "window": (WINDOW, window_params("m", 20)),
    "history page": (PATH_PAGE, page_params("m", 50)),
    "message in session": (IN_SESSION, {"a_id": "m", "a_session": "s"}),
    "siblings": (siblings_query("s", {"m", None}), {}),
    "newest reply": (newest_reply_query("s"), {}),
    "newest below": (newest_below("s", "m"), {}),
}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plans") / "plans.db"
    subprocess.run([sys.executable, "-c", _MIGRATE_SCRIPT, str(path)], cwd=ROOT, check=True)
    return path


def plan(database: Path, statement: Any, params: dict[str, Any]) -> list[str]:
    compiled = statement.compile(dialect=sqlite.dialect())
    expanded = compiled.construct_expanded_state(params)
    positional = [expanded.parameters[name] for name in expanded.positiontup or []]
    with sqlite3.connect(database) as db:
        rows = db.execute(f"EXPLAIN QUERY PLAN {expanded.statement}", positional).fetchall()
    return [row[3] for row in rows]


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_no_statement_scans_the_messages(database: Path, name: str) -> None:
    steps = plan(database, *STATEMENTS[name])
    on_messages = [step for step in steps if " messages" in step]
    assert on_messages, steps
    assert all(step.startswith("SEARCH") for step in on_messages), steps


def test_the_active_turn_is_found_through_the_partial_index(database: Path) -> None:
    """Not through ix_messages_parent, which reads every message of the session."""
    assert plan(database, *STATEMENTS["active turn"]) == [
        "SEARCH messages USING INDEX ix_messages_streaming (session_id=? AND status=?)"
    ]
    sweep = "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'"
    with sqlite3.connect(database) as db:
        steps = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sweep}")]
    # The partial one (read as a covering index since the FTS triggers of 0014).
    assert steps in (
        ["SCAN messages USING INDEX ix_messages_streaming"],
        ["SCAN messages USING COVERING INDEX ix_messages_streaming"],
    )


@pytest.fixture(scope="module")
def postgres_database(postgres_server: PostgresServer) -> str:
    url = postgres_server.create_database("plans")
    subprocess.run([sys.executable, "-c", _MIGRATE_SCRIPT, url], cwd=ROOT, check=True)
    return url


def postgres_plan(url: str, statement: Any, params: dict[str, Any]) -> str:
    compiled = statement.compile(dialect=postgresql.psycopg.dialect())  # type: ignore[no-untyped-call]
    expanded = compiled.construct_expanded_state(params)
    with psycopg.connect(url) as db:
        db.execute("SET enable_seqscan = off")
        rows = db.execute(f"EXPLAIN {expanded.statement}", expanded.parameters).fetchall()
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_on_postgresql_an_index_serves_every_statement(postgres_database: str, name: str) -> None:
    steps = postgres_plan(postgres_database, *STATEMENTS[name])
    assert "Seq Scan on messages" not in steps, steps
    assert " messages" in steps, steps
    assert "Sort" not in steps, steps


def test_on_postgresql_the_active_turn_uses_the_partial_index(postgres_database: str) -> None:
    steps = postgres_plan(postgres_database, *STATEMENTS["active turn"])
    assert "ix_messages_streaming" in steps, steps
