"""Several LLM servers (a comma-separated LLM_SERVER_URL): a server that fails before
sending text is skipped for LLM_COOLDOWN_SECONDS and the next one answers at once;
/api/health shows each server's state; every reply records the server asked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import App, FakeLLM, RefusedPort
from tests.helpers import chat, history, new_session, stream_chat


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[FakeLLM]:
    """A second fake LLM server, listed first."""
    server = FakeLLM(tmp_path)
    server.start()
    yield server
    server.proc.stop()


def calls(server: FakeLLM) -> int:
    return sum(1 for r in server.requests() if r["path"] == "/v1/chat/completions")


def answered_by(app: App, message_id: str) -> str:
    with app.db() as db:
        row = db.execute("SELECT llm_server FROM messages WHERE message_id = ?", (message_id,))
        return str(row.fetchone()[0])


def servers_health(http: httpx.Client) -> list[dict[str, Any]]:
    return list(http.get("/api/health").json()["llm"]["servers"])


def test_failover_cooldown_and_return(make_app: Any, primary: FakeLLM, fake_llm: FakeLLM) -> None:
    app: App = make_app(llm_server_url=f"{primary.url},{fake_llm.url}", llm_cooldown_seconds=1.5)
    with app.client() as http:
        primary.script({"status": 500, "error": "GPU fell off"})
        first = chat(http, message="one")  # the primary fails: the second answers at once
        assert first["content"] == "Echo: one"
        assert (calls(primary), calls(fake_llm)) == (1, 1)
        assert answered_by(app, first["message_id"]) == fake_llm.url
        states = servers_health(http)
        assert [s["url"] for s in states] == [primary.url, fake_llm.url]
        assert states[0]["state"] == "cooling_down"
        assert states[0]["failures_in_a_row"] == 1
        assert "GPU fell off" in states[0]["last_failure"]
        assert states[1]["state"] == "in_use"
        assert http.get("/api/health").json()["llm"]["url"] == fake_llm.url

        second = chat(http, message="two")  # cooling down: not asked at all
        assert (calls(primary), calls(fake_llm)) == (1, 2)
        assert answered_by(app, second["message_id"]) == fake_llm.url

        time.sleep(1.6)  # the cool-down is over: the primary is first again
        third = chat(http, message="three")
        assert calls(primary) == 2
        assert answered_by(app, third["message_id"]) == primary.url
        assert servers_health(http)[0]["state"] == "in_use"
        assert servers_health(http)[0]["failures_in_a_row"] == 0


def test_unreachable_primary_fails_over_and_health_says_so(
    make_app: Any, fake_llm: FakeLLM, refused_port: RefusedPort
) -> None:
    dead = refused_port.url
    app: App = make_app(llm_server_url=f"{dead},{fake_llm.url}")
    with app.client() as http:
        result = stream_chat(http, {"message": "hi"})
        assert result.types.count("start") == 1
        assert result.text == "Echo: hi"
        report = http.get("/api/health").json()
        assert report["status"] == "ok"  # one server answers: not degraded
        dead_state, live_state = report["llm"]["servers"]
        assert (dead_state["ok"], dead_state["state"]) == (False, "cooling_down")
        assert (live_state["ok"], live_state["state"]) == (True, "in_use")


def test_a_failure_after_text_does_not_fail_over(
    make_app: Any, primary: FakeLLM, fake_llm: FakeLLM
) -> None:
    """The client already has text: another server's answer would contradict it."""
    app: App = make_app(llm_server_url=f"{primary.url},{fake_llm.url}")
    primary.script({"chunks": ["a ", "b ", "c ", "d"], "fault": "break"})
    with app.client() as http:
        session_id = new_session(http)
        response = http.post("/api/chat", json={"session_id": session_id, "message": "hi"})
        assert response.json()["code"] == "llm_bad_reply"
        assert calls(fake_llm) == 0
        reply = history(http, session_id)[-1]
        assert (reply["status"], reply["content"]) == ("failed", "a b ")
        assert answered_by(app, reply["message_id"]) == primary.url
        assert servers_health(http)[0]["state"] == "in_use"  # not the server's fault alone


def test_every_server_failing_is_one_clear_error(
    make_app: Any, primary: FakeLLM, fake_llm: FakeLLM
) -> None:
    app: App = make_app(llm_server_url=f"{primary.url},{fake_llm.url}", llm_max_retries=0)
    primary.script({"status": 502})
    fake_llm.script({"status": 500, "error": "also down"})
    with app.client() as http:
        response = http.post("/api/chat", json={"message": "hi"})
        assert (response.status_code, response.json()["code"]) == (502, "llm_upstream_error")
        assert "also down" in response.json()["detail"]
        assert (calls(primary), calls(fake_llm)) == (1, 1)


def test_a_server_closing_without_answering_is_skipped(
    make_app: Any, primary: FakeLLM, fake_llm: FakeLLM
) -> None:
    """A connection closed before any answer counts against that server: the next
    one answers the same turn, and the first cools down."""
    app: App = make_app(llm_server_url=f"{primary.url},{fake_llm.url}")
    primary.script({"fault": "close"})
    with app.client() as http:
        reply = chat(http, message="hi")
        assert reply["content"] == "Echo: hi"
        assert (calls(primary), calls(fake_llm)) == (1, 1)
        assert answered_by(app, reply["message_id"]) == fake_llm.url
        closed, answering = servers_health(http)
        assert (closed["state"], closed["failures_in_a_row"]) == ("cooling_down", 1)
        assert closed["last_failure"] == "LLM server closed the connection without answering"
        assert answering["state"] == "in_use"
