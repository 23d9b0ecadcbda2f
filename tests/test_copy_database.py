"""`python main.py copy-database --to URL`: a SQLite history moved into PostgreSQL,
whole (trees, profiles, keys, audit, idempotency keys), checked, never merged."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import App, FakeLLM, RefusedPort
from tests.helpers import chat
from tests.postgres import PostgresServer


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def sqlite_app(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[Callable[..., App]]:
    """Apps on a SQLite file (the copy's source, whatever the `backend`)."""
    started: list[App] = []

    def start(**settings: Any) -> App:
        settings["database_url"] = str(tmp_path / "chat.db")
        started.append(App(tmp_path / "source", fake_llm.url, **settings).start())
        return started[-1]

    yield start
    for instance in started:
        instance.stop()


def fill(http: httpx.Client) -> dict[str, Any]:
    """A history with a bit of everything: a profile with tags, a regenerated reply
    (a tree), a fork, an idempotent turn."""
    profile = http.post(
        "/api/profiles", json={"name": "terse", "system_prompt": "Be brief.", "tags": ["a", "b"]}
    ).json()
    first = chat(http, message="one")
    session_id = first["session_id"]
    http.patch(f"/api/sessions/{session_id}", json={"profile_id": profile["profile_id"]})
    second = chat(http, session_id=session_id, message="two")
    regenerated = http.post(f"/api/messages/{second['message_id']}/regenerate")
    assert regenerated.status_code == 200, regenerated.text
    fork = http.post(f"/api/sessions/{session_id}/fork", json={"message_id": first["message_id"]})
    assert fork.status_code == 201, fork.text
    keyed = {"Idempotency-Key": "copy-me"}
    once = http.post("/api/chat", json={"message": "keyed"}, headers=keyed)
    return {"session_id": session_id, "fork": fork.json()["session_id"], "keyed": once.json()}


def snapshot(http: httpx.Client, sessions: list[str]) -> list[Any]:
    """What a client can read back of the history (exports hold the whole trees),
    but the time of the read itself (an export touches `last_accessed`)."""
    found: list[Any] = []
    for session_id in sessions:
        export = http.get(f"/api/sessions/{session_id}/export").json()
        del export["session"]["last_accessed"]
        found.append(export)
    found.append(http.get("/api/profiles").json()["items"])
    return found


def test_a_sqlite_history_moves_whole_into_postgresql_and_goes_on_there(
    sqlite_app: Any, postgres_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    source: App = sqlite_app(auth_mode="api_key")
    key = source.create_key("alice")
    with source.client(headers=bearer(key)) as http:
        made = fill(http)
        sessions = [made["session_id"], made["fork"], made["keyed"]["session_id"]]
        before = snapshot(http, sessions)
    source.stop()
    target_url = postgres_server.create_database("moved")
    copied = source.run_cli("copy-database", "--to", target_url)
    assert copied.returncode == 0, copied.stderr
    with sqlite3.connect(tmp_path / "chat.db") as db:
        (messages,) = db.execute("SELECT count(*) FROM messages").fetchone()
    assert f" {messages} messages," in copied.stdout
    assert "1 api_keys" in copied.stdout
    assert "2 profile_tags" in copied.stdout

    moved = App(tmp_path / "moved", fake_llm.url, auth_mode="api_key", database_url=target_url)
    moved.start()
    try:
        with moved.client(headers=bearer(key)) as http:  # the same key works there
            assert snapshot(http, sessions) == before
            again = http.post(
                "/api/chat", json={"message": "keyed"}, headers={"Idempotency-Key": "copy-me"}
            )
            assert again.json() == made["keyed"]  # the stored result, not a new turn
            assert again.headers["Idempotent-Replayed"] == "true"
            reply = chat(http, session_id=made["session_id"], message="three")
            assert reply["content"] == "Echo: three"
            assert moved.create_key("bob")  # audit rows get new ids past the copied ones
    finally:
        moved.stop()


def test_a_non_empty_or_foreign_target_is_refused_and_left_as_it_was(
    sqlite_app: Any, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    source: App = sqlite_app()
    with source.client() as http:
        chat(http, message="mine")
    target_url = postgres_server.create_database("taken")
    assert source.run_cli("copy-database", "--to", target_url).returncode == 0
    with psycopg.connect(target_url) as db:
        counted = db.execute("SELECT count(*) FROM messages").fetchone()
    again = source.run_cli("copy-database", "--to", target_url)
    assert again.returncode == 2
    assert "not empty (table" in again.stderr
    with psycopg.connect(target_url) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone() == counted

    foreign_url = postgres_server.create_database("foreign")
    with psycopg.connect(foreign_url, autocommit=True) as db:
        db.execute("CREATE TABLE invoices (id int)")
    refused = source.run_cli("copy-database", "--to", foreign_url)
    assert refused.returncode == 2
    assert "other tables (invoices)" in refused.stderr
    with psycopg.connect(foreign_url) as db:
        tables = db.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        assert tables.fetchall() == [("invoices",)]


@pytest.mark.parametrize(
    ("to", "says"),
    [
        ("sqlite:///elsewhere.db", "--to must be a postgresql:// URL"),
        ("postgresql://u:pw@127.0.0.1:{port}/db", "cannot reach postgresql://u:***@127.0.0.1"),
    ],
)
def test_a_wrong_target_is_one_line_and_exit_2(
    sqlite_app: Any, refused_port: RefusedPort, to: str, says: str
) -> None:
    source: App = sqlite_app()
    run = source.run_cli("copy-database", "--to", to.format(port=refused_port.port))
    assert run.returncode == 2
    assert run.stderr.startswith(f"Copy failed: {says}"), run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert "Traceback" not in run.stderr
    assert ":pw@" not in run.stderr


def test_a_nul_stored_by_an_older_version_arrives_as_the_replacement_character(
    sqlite_app: Any, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    source: App = sqlite_app()
    with source.client() as http:
        reply = chat(http, message="before")
    with sqlite3.connect(tmp_path / "chat.db") as db:  # as an older version stored it
        db.execute("UPDATE messages SET content = 'a' || char(0) || 'b' WHERE message_id = ?",
                   (reply["message_id"],))  # fmt: skip
    target_url = postgres_server.create_database("nul")
    run = source.run_cli("copy-database", "--to", target_url)
    assert run.returncode == 0, run.stderr
    assert "1 NUL character(s) became U+FFFD" in run.stdout
    with psycopg.connect(target_url) as db:
        row = db.execute(
            "SELECT content FROM messages WHERE message_id = %s", (reply["message_id"],)
        ).fetchone()
    assert row == ("a\ufffdb",)
    assert uuid.UUID(reply["message_id"])
