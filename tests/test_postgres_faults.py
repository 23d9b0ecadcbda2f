"""Faults of a PostgreSQL deployment: an instance killed, the database restarted.

Each test has a PostgreSQL server of its own (the restart must not reach the other
tests' databases) and instances that share nothing but it.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import App, FakeLLM, free_port
from tests.helpers import chat, history, new_session, streaming_turn, wait_for
from tests.load import many_sessions
from tests.postgres import PostgresServer, running_server

pytestmark = pytest.mark.slow
SLOW_WORDS = " ".join(f"w{n}" for n in range(30))


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[PostgresServer]:
    with running_server(tmp_path / "postgres", free_port()) as server:
        yield server


def test_kill_9_of_an_instance_mid_stream_the_others_interrupt_its_reply(
    own_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    settings = {"database_url": own_server.create_database(), "orphan_after_seconds": 1}
    doomed = App(tmp_path / "a", fake_llm.url, **settings).start()
    survivor = App(tmp_path / "b", fake_llm.url, **settings).start()
    try:
        with doomed.client() as http:
            session_id = new_session(http)
            fake_llm.script({"reply": SLOW_WORDS, "chunk_delay": 0.1})
            with streaming_turn(http, session_id, deltas=5) as (start, _):
                wait_for(lambda: history_of(survivor, session_id)[-1]["content"], seconds=3)
                doomed.stop(signal.SIGKILL)
        reply = wait_for(lambda: ended(survivor, session_id), seconds=6)
        assert reply, "the dead instance's reply was never marked"
        assert reply["status"] == "interrupted"
        assert reply["message_id"] == start["message_id"]
        assert reply["content"].startswith("w0 w1")  # its checkpointed text is kept
        stored = history_of(survivor, session_id)
        assert [m["content"] for m in stored[:1]] == ["go slowly"]  # the acknowledged message
        with survivor.client() as http:  # the session is free again, on the survivor
            assert chat(http, session_id=session_id, message="again")["content"] == "Echo: again"
    finally:
        survivor.stop()


def test_a_database_restart_under_load_loses_nothing_acknowledged(
    own_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """Turns keep coming while PostgreSQL restarts (pg_ctl restart -m fast, which
    closes every connection). Each request gets an answer, a 503 naming the database
    while it is down; every turn that was answered 200 is in the history; the
    service recovers without a restart of its own."""
    app = App(tmp_path / "app", fake_llm.url, database_url=own_server.create_database()).start()
    answered: list[tuple[str, int, dict[str, Any]]] = []
    stop = threading.Event()

    def keep_chatting(n: int) -> None:
        with app.client() as http:
            session_id = new_session(http)
            turn = 0
            while not stop.is_set():
                turn += 1
                response = http.post(
                    "/api/chat", json={"session_id": session_id, "message": f"c{n} t{turn}"}
                )
                answered.append((session_id, response.status_code, response.json()))

    clients = [threading.Thread(target=keep_chatting, args=(n,)) for n in range(4)]
    try:
        for client in clients:
            client.start()
        wait_for(lambda: len(answered) > 20, seconds=10)
        own_server.restart("fast")
        wait_for(lambda: sum(status == 200 for _, status, _ in answered[-8:]) == 8, seconds=15)
        stop.set()
        for client in clients:
            client.join(timeout=30)
        # 503 while the database is down; 409 for a session whose reply ended while it
        # was down, until that kept reply is stored (within a second of its return)
        codes = {status: body.get("code") for _, status, body in answered if status != 200}
        assert set(codes.items()) <= {(503, "database_unavailable"), (409, "turn_in_progress")}
        assert answered[-1][1] == 200  # recovered, the same process
        with app.db() as db:  # every message of every session (the API pages them)
            stored = {row[0] for row in db.execute("SELECT content FROM messages")}
        acknowledged = [body["content"] for _, status, body in answered if status == 200]
        assert set(acknowledged) <= stored
        assert "Traceback" not in app.output()
    finally:
        stop.set()
        app.stop()


def test_a_reply_that_ends_while_the_database_is_down_is_stored_when_it_is_back(
    own_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    app = App(tmp_path / "app", fake_llm.url, database_url=own_server.create_database()).start()
    try:
        with app.client() as http:
            session_id = new_session(http)
            fake_llm.script({"reply": SLOW_WORDS, "chunk_delay": 0.1})
            with streaming_turn(http, session_id, deltas=2) as (start, events):
                own_server.stop("fast")
                rest: list[dict[str, Any]] = list(events)
            assert rest[-1]["type"] == "error"
            assert rest[-1]["code"] == "database_unavailable"
            assert "will be stored" in rest[-1]["message"]
            down = http.post("/api/chat", json={"session_id": session_id, "message": "now?"})
            assert down.status_code == 503
            assert down.json()["code"] == "database_unavailable"
            own_server.start()
            stored = wait_for(lambda: ended(app, session_id), seconds=10)
            assert stored, "the kept reply was not stored once the database was back"
            assert stored["status"] == "complete"
            assert stored["content"] == SLOW_WORDS
            assert stored["message_id"] == start["message_id"]
            assert chat(http, session_id=session_id, message="next")["content"] == "Echo: next"
    finally:
        app.stop()
    assert "Traceback" not in app.output()


def history_of(app: App, session_id: str) -> list[dict[str, Any]]:
    with app.client() as http:
        return history(http, session_id)


def ended(app: App, session_id: str) -> dict[str, Any] | None:
    try:
        reply = history_of(app, session_id)[-1]
    except (httpx.HTTPError, AssertionError, KeyError):
        return None
    return None if reply["status"] == "streaming" else reply


def test_three_instances_200_clients_1000_sessions_no_5xx_and_whole_histories(
    own_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """Each request goes to the next instance (a round-robin balancer): the two turns
    of a session are answered by different instances."""
    settings = {"database_url": own_server.create_database(), "llm_read_timeout": 60}
    apps = [App(tmp_path / f"i{n}", fake_llm.url, **settings) for n in range(3)]
    try:
        for instance in apps:
            instance.start()
        urls = [instance.url for instance in apps]
        report = asyncio.run(many_sessions(urls, clients=200, sessions=1000, turns=2))
        print(report.summary())
        assert report.statuses == {201: 1000, 200: 2000}, report.summary()
        assert report.bad_histories == []
    finally:
        for instance in apps:
            instance.stop()
    assert not any("Traceback" in instance.output() for instance in apps)
