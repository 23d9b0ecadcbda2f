"""The statements of a turn and of the tree read through indexes: SQLite's own
query plans, on a freshly migrated database, never scan the messages table. (The
cost of a turn flat in a session's size rests on this; bench/ measures it.)"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from services.branches import newest_below
from services.tree import PATH_PAGE, WINDOW, page_params, siblings_query, window_params
from services.turns.placement import IN_SESSION, active_turn_query
from services.turns.status import newest_reply_query
from tests.conftest import ROOT
from tests.test_storage import _MIGRATE_SCRIPT

STATEMENTS: dict[str, tuple[Any, dict[str, Any]]] = {
    "active turn": (active_turn_query("s"), {}),
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
    assert steps == ["SCAN messages USING INDEX ix_messages_streaming"]  # the partial one
