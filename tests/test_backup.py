"""`python main.py backup PATH`: a consistent copy of the live database, made while
the service keeps answering turns, that a new service can be started on (restore)."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, new_session
from tests.postgres import PostgresServer


def run_backup(app: App, *args: str) -> subprocess.CompletedProcess[str]:
    return app.run_cli("backup", *args)


def keep_chatting(app: App, session_id: str, stop: threading.Event, done: list[int]) -> None:
    with app.client() as http:
        while not stop.is_set():
            chat(http, session_id=session_id, message=f"turn {len(done)}")
            done.append(1)


@pytest.mark.sqlite_only("backup copies a SQLite file; on PostgreSQL it points to pg_dump")
def test_backup_while_serving_is_consistent_and_restores(app: App, make_app, tmp_path) -> None:
    with app.client() as http:
        session_id = new_session(http)
    stop, done = threading.Event(), list[int]()
    writer = threading.Thread(target=keep_chatting, args=(app, session_id, stop, done))
    writer.start()
    try:
        while len(done) < 5:
            stop.wait(0.05)
        copies = [tmp_path / f"backup{n}.db" for n in range(3)]
        runs = [run_backup(app, str(copy)) for copy in copies]
        turns_during = len(done)
    finally:
        stop.set()
        writer.join(timeout=30)
    assert [run.returncode for run in runs] == [0, 0, 0], [run.stderr for run in runs]
    assert turns_during > 5  # the service kept answering while the copies were made
    for copy, run in zip(copies, runs, strict=True):
        with sqlite3.connect(copy) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            rows = db.execute(
                "SELECT role, status FROM messages WHERE session_id=? ORDER BY seq", (session_id,)
            ).fetchall()
            (all_messages,) = db.execute("SELECT count(*) FROM messages").fetchone()
        # the report counts the whole copy (the shared app holds other tests' sessions)
        assert f"{all_messages} messages" in run.stdout
        # one moment's state: whole turns, each a user message and its assistant reply,
        # at most the last one still generating
        assert rows
        assert len(rows) % 2 == 0
        assert [role for role, _ in rows] == ["user", "assistant"] * (len(rows) // 2)
        assert all(status == "complete" for _, status in rows[:-1])
    restored: App = make_app(database_url=str(copies[-1]))
    with restored.client() as http:
        stored = history(http, session_id)
        assert [m["role"] for m in stored][:2] == ["user", "assistant"]
        assert chat(http, session_id=session_id, message="after restore")["content"]


@pytest.mark.sqlite_only("the refusals of a file copy; PostgreSQL's is the next test")
def test_backup_refuses_clearly_and_writes_nothing(app: App, client: httpx.Client) -> None:
    chat(client, message="something to back up")
    existing = app.workdir / "taken.db"
    existing.write_bytes(b"not mine to overwrite")
    cases = {
        str(existing): "already exists",
        str(app.workdir / "no-such-dir" / "copy.db"): "no directory",
    }
    for target, reason in cases.items():
        run = run_backup(app, target)
        assert run.returncode == 2
        assert reason in run.stderr
        assert "Traceback" not in run.stderr
    assert existing.read_bytes() == b"not mine to overwrite"
    usage = run_backup(app)
    assert usage.returncode == 2
    assert "usage: python main.py backup PATH" in usage.stderr
    assert sorted(p.name for p in Path(app.workdir).glob("*.partial")) == []


def test_backup_on_postgresql_points_to_pg_dump(
    postgres_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    app = App(tmp_path, fake_llm.url, database_url=postgres_server.create_database())
    run = run_backup(app, str(app.workdir / "copy.db"))
    assert run.returncode == 2
    assert "pg_dump" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (app.workdir / "copy.db").exists()
