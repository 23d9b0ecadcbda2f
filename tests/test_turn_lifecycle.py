"""A turn is a stored object from its first moment: `streaming` with its text
checkpointed, one per session at a time (409), visible in status and history,
and `interrupted`, text kept, when the process dies under it."""

from __future__ import annotations

import re
import signal
from typing import Any

import httpx
import pytest

from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, new_session, streaming_turn, wait_for, wait_until_swept

SLOW_CHUNKS = [f"w{n} " for n in range(20)]
SLOW_REPLY = {"chunks": SLOW_CHUNKS, "chunk_delay": 0.15}
FINAL_TEXT = "".join(SLOW_CHUNKS)


def test_a_streaming_turn_is_stored_and_checkpointed_while_it_runs(
    app: App, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script(SLOW_REPLY)
    with app.client() as other, streaming_turn(client, session_id, deltas=5) as (start, events):

        def checkpointed() -> dict[str, Any] | None:
            status = other.get(f"/api/sessions/{session_id}/status").json()
            return status if status["chars_so_far"] > 0 else None

        status = wait_for(checkpointed)
        assert status is not None
        assert status["active"] is True
        assert status["status"] == "streaming"
        assert status["message_id"] == start["message_id"]
        stored = history(other, session_id)[-1]
        assert stored["message_id"] == start["message_id"]
        assert stored["status"] == "streaming"
        assert stored["content"]
        assert FINAL_TEXT.startswith(stored["content"])
        rest = list(events)
    assert rest[-1]["type"] == "done"
    final = client.get(f"/api/sessions/{session_id}/status").json()
    assert final == {
        "active": False,
        "message_id": start["message_id"],
        "status": "complete",
        "started_at": final["started_at"],
        "chars_so_far": len(FINAL_TEXT),
    }
    assert history(client, session_id)[-1]["content"] == FINAL_TEXT


def test_a_second_turn_while_one_streams_is_409_and_stores_nothing(
    app: App, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script(SLOW_REPLY)
    with app.client() as other, streaming_turn(client, session_id, deltas=1) as (start, events):
        for path in ("/api/chat", "/api/chat/stream"):
            refused = other.post(path, json={"session_id": session_id, "message": "me too"})
            assert refused.status_code == 409
            body = refused.json()
            assert body["code"] == "turn_in_progress"
            assert body["message_id"] == start["message_id"]
            assert start["message_id"] in body["detail"]
        assert other.get(f"/api/sessions/{session_id}").json()["message_count"] == 2
        list(events)
    assert [m["content"] for m in history(client, session_id) if m["role"] == "user"] == [
        "go slowly"
    ]
    assert chat(client, session_id=session_id, message="now")["content"] == "Echo: now"


def test_turns_on_different_sessions_run_side_by_side(
    app: App, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    busy, free = new_session(client), new_session(client)
    fake_llm.script(SLOW_REPLY)
    with app.client() as other, streaming_turn(client, busy, deltas=1) as (_, events):
        assert chat(other, session_id=free, message="hello")["content"] == "Echo: hello"
        list(events)


def test_status_of_a_new_session_is_idle_and_of_an_unknown_one_404(
    client: httpx.Client,
) -> None:
    session_id = new_session(client)
    assert client.get(f"/api/sessions/{session_id}/status").json() == {
        "active": False,
        "message_id": None,
        "status": "idle",
        "started_at": None,
        "chars_so_far": 0,
    }
    missing = client.get("/api/sessions/no-such-session/status")
    assert missing.status_code == 404
    assert missing.json()["code"] == "session_not_found"


@pytest.mark.slow
def test_kill_9_mid_stream_leaves_the_turn_interrupted_with_its_text(
    make_app, fake_llm: FakeLLM
) -> None:
    app: App = make_app(orphan_after_seconds=1)
    with app.client() as http:
        session_id = new_session(http)
        fake_llm.script(SLOW_REPLY)
        with streaming_turn(http, session_id, deltas=6) as (start, _):
            wait_for(lambda: history_text(app, start["message_id"]))
            app.stop(signal.SIGKILL)
    app.start()
    with app.client() as http:
        wait_until_swept(http, session_id)
        stored = history(http, session_id)[-1]
        assert stored["message_id"] == start["message_id"]
        assert stored["status"] == "interrupted"
        assert stored["error"] == "interrupted"
        assert stored["content"]
        assert FINAL_TEXT.startswith(stored["content"])
        status = http.get(f"/api/sessions/{session_id}/status").json()
        assert status["active"] is False
        assert status["status"] == "interrupted"
        assert chat(http, session_id=session_id, message="still there?")["content"]
        sent = fake_llm.last_body()["messages"]
        assert {"role": "assistant", "content": stored["content"]} in sent
    # by the startup sweep, or (PostgreSQL, a restart within ORPHAN_AFTER_SECONDS of the
    # reply's last heartbeat) by the periodic one
    assert re.search(r"\d turn\(s\) .* are now interrupted", app.output())


def history_text(app: App, message_id: str) -> str:
    """The stored text of a message, read straight from the SQLite file."""
    with app.db() as db:
        row = db.execute("SELECT content FROM messages WHERE message_id = ?", (message_id,))
        found = row.fetchone()
    return str(found[0]) if found else ""


def test_checkpoints_follow_the_configured_chunk_count_or_none(make_app, fake_llm: FakeLLM) -> None:
    for chunks, saved_after_six in ((4, 4 * 2), (0, 0)):
        app: App = make_app(checkpoint_seconds=0, checkpoint_chunks=chunks)
        with app.client() as http, app.client() as other:
            session_id = new_session(http)
            fake_llm.script({"chunks": ["ab"] * 12, "chunk_delay": 0.3})
            with streaming_turn(http, session_id, deltas=6) as (_, events):
                status = other.get(f"/api/sessions/{session_id}/status").json()
                assert status["chars_so_far"] == saved_after_six
                list(events)
            assert history(http, session_id)[-1]["content"] == "ab" * 12
