"""SIGTERM drains: turns in flight finish within SHUTDOWN_GRACE_SECONDS, or are stored
`interrupted` when it runs out; every request reaching the process meanwhile gets 503."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import App, FakeLLM, ServerApp, gunicorn_argv
from tests.helpers import history, new_session, streaming_turn, wait_for

SLOW_WORDS = " ".join(f"w{n}" for n in range(8))  # 8 chunks

# Signals to whole services, and gunicorn: timing-bound, run one at a time.
pytestmark = pytest.mark.slow


def send_sigterm(app: App) -> float:
    assert app.proc.process is not None
    app.proc.process.send_signal(signal.SIGTERM)
    return time.monotonic()


def wait_exit(app: App, seconds: float) -> float:
    assert app.proc.process is not None
    try:
        app.proc.process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the service was still running {seconds} s after SIGTERM")
    return time.monotonic()


def refused_while_draining(
    app: App, path: str = "/api/sessions", *, exiting_worker: bool = False
) -> httpx.Response:
    """A request on a new connection once the drain has begun.

    `exiting_worker`: under gunicorn a worker with nothing in flight ends its drain at
    once and exits; a connection it accepted in the instant before closing its
    listener is closed unanswered (the kernel hands a shared listener's connection to
    any worker). The client then connects again and reaches a worker still draining."""
    with app.client() as http:
        response = wait_for(lambda: _status_503(http, path, exiting_worker), seconds=5)
    assert isinstance(response, httpx.Response), f"no 503 for {path} after SIGTERM"
    return response


def _status_503(http: httpx.Client, path: str, exiting_worker: bool) -> httpx.Response | None:
    try:
        response = http.get(path)
    except httpx.RemoteProtocolError:
        if not exiting_worker:
            raise
        return None
    return response if response.status_code == 503 else None


def assert_shutting_down(response: httpx.Response) -> None:
    body = response.json()
    assert body["code"] == "shutting_down"
    assert "shutting down" in body["detail"]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-Request-ID"] == body["request_id"]


def test_a_turn_in_flight_finishes_while_new_requests_get_503(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app = make_app(shutdown_grace_seconds=20)
    with app.client() as http:
        session_id = new_session(http)
        socket_url = f"ws://127.0.0.1:{app.port}/ws/{session_id}"
        fake_llm.script({"reply": SLOW_WORDS, "chunk_delay": 0.4})
        with (
            connect(socket_url) as idle_socket,
            streaming_turn(http, session_id, deltas=1) as (start, events),
        ):
            assert json.loads(idle_socket.recv(timeout=5))["type"] == "status"
            signalled = send_sigterm(app)
            assert_shutting_down(refused_while_draining(app))
            with app.client() as other:
                health = other.get("/api/health")
                assert (health.status_code, health.json()["status"]) == (503, "shutting_down")
                assert other.get("/api/health/ready").status_code == 503
                assert other.get("/api/health/live").status_code == 200  # alive: do not kill
            with pytest.raises(InvalidStatus) as refused:
                connect(socket_url)
            assert refused.value.response.status_code == 503
            # A socket opened before the drain: its next chat message is refused too.
            idle_socket.send(json.dumps({"type": "chat", "message": "one more"}))
            error = json.loads(idle_socket.recv(timeout=5))
            assert (error["type"], error["data"]["code"]) == ("error", "shutting_down")
            rest = list(events)
        exited = wait_exit(app, 15)
    assert rest[-1]["type"] == "done"
    assert "".join(e["content"] for e in rest if e["type"] == "delta").endswith("w7")
    assert exited - signalled < 10  # the drain ended when the turn did, not at the grace
    assert "draining" in app.output()
    assert "Traceback" not in app.output()
    app.start()
    with app.client() as http:
        stored = history(http, session_id)
    assert [(m["role"], m["status"]) for m in stored] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert stored[1]["content"] == SLOW_WORDS
    assert stored[1]["message_id"] == start["message_id"]


def test_turns_still_running_at_the_end_of_the_grace_are_stored_interrupted(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app = make_app(shutdown_grace_seconds=1)
    words = " ".join(f"w{n}" for n in range(60))
    with app.client() as http:
        streamed_session, whole_session = new_session(http), new_session(http)
        fake_llm.script({"reply": words, "chunk_delay": 0.3}, {"reply": words, "chunk_delay": 0.3})
        whole: dict[str, httpx.Response] = {}

        def ask_whole_reply() -> None:
            with app.client() as other:
                body = {"session_id": whole_session, "message": "long"}
                whole["response"] = other.post("/api/chat", json=body)

        whole_reply = threading.Thread(target=ask_whole_reply)
        whole_reply.start()
        with streaming_turn(http, streamed_session, deltas=2) as (_, events):
            signalled = send_sigterm(app)
            rest = list(events)
        whole_reply.join(15)
        exited = wait_exit(app, 15)
    assert 1 <= exited - signalled < 8
    assert (rest[-1]["type"], rest[-1]["code"]) == ("error", "interrupted")
    assert whole["response"].status_code == 503
    assert whole["response"].json()["code"] == "interrupted"
    assert "2 turn(s) still generating are now interrupted" in app.output()
    app.start()
    with app.client() as http:
        for session_id in (streamed_session, whole_session):
            reply = history(http, session_id)[-1]
            assert reply["status"] == "interrupted"
            assert reply["content"]
            assert words.startswith(reply["content"])
            assert len(reply["content"]) < len(words)


def test_an_idle_service_exits_at_once_on_sigterm(make_app: Any) -> None:
    app = make_app(shutdown_grace_seconds=30)
    signalled = send_sigterm(app)
    assert wait_exit(app, 10) - signalled < 3


def test_a_second_sigterm_skips_the_rest_of_the_grace(make_app: Any, fake_llm: FakeLLM) -> None:
    app = make_app(shutdown_grace_seconds=30)
    with app.client() as http:
        session_id = new_session(http)
        fake_llm.script({"reply": " ".join(["w"] * 100), "chunk_delay": 0.3})
        with streaming_turn(http, session_id, deltas=1) as (_, events):
            signalled = send_sigterm(app)
            refused_while_draining(app)
            send_sigterm(app)
            rest = list(events)
        exited = wait_exit(app, 15)
    assert rest[-1]["code"] == "interrupted"
    assert exited - signalled < 8


def test_gunicorn_workers_drain_on_the_masters_sigterm(tmp_path: Any, fake_llm: FakeLLM) -> None:
    app = ServerApp(gunicorn_argv(2), tmp_path, fake_llm.url, shutdown_grace_seconds=20)
    app.run_from_repository().start()
    try:
        with app.client() as http:
            session_id = new_session(http)
            fake_llm.script({"reply": SLOW_WORDS, "chunk_delay": 0.4})
            with streaming_turn(http, session_id, deltas=1) as (_, events):
                signalled = send_sigterm(app)
                for _ in range(4):  # new connections, whichever worker takes them
                    assert_shutting_down(refused_while_draining(app, exiting_worker=True))
                rest = list(events)
            exited = wait_exit(app, 30)
    finally:
        app.stop(signal.SIGKILL)
    assert rest[-1]["type"] == "done"
    assert exited - signalled < 15
    with app.db() as db:
        rows = db.execute("SELECT role, status, content FROM messages ORDER BY rowid").fetchall()
    assert rows[-1] == ("assistant", "complete", SLOW_WORDS)
