"""A database that stops taking writes (disk full, writes refused): 503
`database_unavailable` naming the cause, nothing half-written, reads still served, and
the service recovers by itself, no restart, once writes are possible again. A reply
generated meanwhile is kept and stored then."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from tests.conftest import App, FakeLLM
from tests.disk import FullDisk, WriteBan
from tests.helpers import chat, history, new_session, stream_chat, streaming_turn, wait_for

SLOW_WORDS = " ".join(f"w{n}" for n in range(12))


class Disk(Protocol):
    def fill(self) -> None: ...
    def free(self) -> None: ...


@pytest.fixture(params=["full_disk", "write_ban"])
def app_and_disk(
    request: pytest.FixtureRequest, tmp_path: Path, fake_llm: FakeLLM
) -> Iterator[tuple[App, Disk, str]]:
    """The service with its database on a disk the test can fill (or writes it can
    ban), and the reason SQLite gives when it is full."""
    full_disk = FullDisk(tmp_path / "disk") if request.param == "full_disk" else None
    app = App(tmp_path / "app", fake_llm.url)
    if full_disk is not None:  # the log stays on the roomy disk, the database moves
        app.db_path = full_disk.mount_point / "chat.db"
        app.env["DATABASE_URL"] = str(app.db_path)
    app.start()
    assert app.proc.process is not None
    disk: Disk = full_disk or WriteBan(app.proc.process.pid)
    reason = "database or disk is full" if full_disk else "disk I/O error"
    try:
        yield app, disk, reason
    finally:
        disk.free()
        app.stop()
        if full_disk is not None:
            full_disk.unmount()


def counts(app: App) -> tuple[int, int]:
    with sqlite3.connect(app.db_path) as db:
        sessions = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
        messages = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    return sessions, messages


def assert_unavailable(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert body["detail"] == f"Database unavailable: {reason}"  # the cause; no path, no SQL


def test_writes_get_503_nothing_is_half_written_and_the_service_recovers(
    app_and_disk: tuple[App, Disk, str],
) -> None:
    app, disk, reason = app_and_disk
    with app.client() as http:
        session_id = new_session(http)
        chat(http, session_id=session_id, message="before")
        before = counts(app)
        disk.fill()
        assert_unavailable(http.post("/api/sessions", json={"metadata": {"n": 2}}), reason)
        assert_unavailable(
            http.post("/api/chat", json={"session_id": session_id, "message": "lost?"}), reason
        )
        refused_stream = stream_chat(http, {"session_id": session_id, "message": "lost?"})
        assert refused_stream.status_code == 503
        assert refused_stream.body is not None
        assert refused_stream.body["code"] == "database_unavailable"
        assert_unavailable(http.delete(f"/api/sessions/{session_id}"), reason)
        # Reads go on.
        assert [m["content"] for m in history(http, session_id)] == ["before", "Echo: before"]
        assert http.get("/api/sessions").status_code == 200
        assert counts(app) == before  # not one row of the refused writes
        disk.free()
        # The same process, no restart: every write works again.
        assert chat(http, session_id=session_id, message="after")["content"] == "Echo: after"
        assert http.post("/api/sessions", json={"metadata": {"n": 2}}).status_code == 201
        assert [m["content"] for m in history(http, session_id)] == [
            "before",
            "Echo: before",
            "after",
            "Echo: after",
        ]
    assert counts(app) == (before[0] + 1, before[1] + 2)
    with sqlite3.connect(app.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert "Traceback" not in app.output()


def test_a_reply_that_ends_while_writes_fail_is_stored_once_they_work(
    app_and_disk: tuple[App, Disk, str], fake_llm: FakeLLM
) -> None:
    app, disk, reason = app_and_disk
    with app.client() as http:
        session_id = new_session(http)
        fake_llm.script({"reply": SLOW_WORDS, "chunk_delay": 0.2})
        with streaming_turn(http, session_id, deltas=2) as (start, events):
            disk.fill()
            rest: list[dict[str, Any]] = list(events)
        assert rest[-1]["type"] == "error"
        assert rest[-1]["code"] == "database_unavailable"
        assert reason in rest[-1]["message"]
        assert "will be stored" in rest[-1]["message"]
        assert history(http, session_id)[-1]["status"] == "streaming"  # its last checkpoint
        disk.free()
        stored = wait_for(
            lambda: (reply := history(http, session_id)[-1])["status"] == "complete" and reply,
            seconds=5,
        )
        assert stored, "the kept reply was not stored after the disk was freed"
        assert stored["content"] == SLOW_WORDS
        assert stored["message_id"] == start["message_id"]
        assert chat(http, session_id=session_id, message="next")["content"] == "Echo: next"
