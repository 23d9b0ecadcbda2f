"""Stop: the upstream stream is closed at once, the reply is stored `cancelled` with
its text, and whoever reads the turn (stream or whole reply) gets that ending."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from tests.conftest import App, FakeLLM
from tests.helpers import history, new_session, streaming_turn, wait_for

WORDS = [f"w{n} " for n in range(60)]
SLOW_REPLY = {"chunks": WORDS, "chunk_delay": 0.05}
STOP_DEADLINE_SECONDS = 0.5


def upstream_closed_after(fake_llm: FakeLLM, since: float) -> float:
    """Seconds from `since` until the fake LLM saw its last stream's client go."""
    record = wait_for(lambda: (r := fake_llm.requests()[-1]).get("closed_at") and r)
    assert record["ended"] == "client_disconnected", record
    return float(record["closed_at"]) - since


def test_stop_closes_the_upstream_and_ends_the_stream_with_cancelled(
    app: App, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script(SLOW_REPLY)
    with app.client() as other, streaming_turn(client, session_id, deltas=3) as (start, events):
        asked_at = time.time()
        stopped = other.post(f"/api/sessions/{session_id}/stop")
        rest = list(events)
    assert stopped.status_code == 200
    result = stopped.json()
    assert (result["stopped"], result["status"]) == (True, "cancelled")
    assert result["message_id"] == start["message_id"]
    assert upstream_closed_after(fake_llm, asked_at) < STOP_DEADLINE_SECONDS
    assert rest[-1]["type"] == "done"
    assert rest[-1]["finish_reason"] == "cancelled"
    received = "w0 w1 w2 " + "".join(e["content"] for e in rest if e["type"] == "delta")
    reply = history(client, session_id)[-1]
    assert (reply["status"], reply["finish_reason"]) == ("cancelled", "cancelled")
    assert reply["content"] == received
    assert result["chars"] == len(received)
    assert 0 < len(received) < len("".join(WORDS))
    with app.db() as db:
        assert db.execute("SELECT count(*) FROM turn_stops").fetchone() == (0,)


def test_a_stopped_session_takes_the_next_turn(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id = new_session(client)
    fake_llm.script(SLOW_REPLY)
    with streaming_turn(client, session_id, deltas=1):
        assert client.post(f"/api/sessions/{session_id}/stop").json()["stopped"] is True
    reply = client.post("/api/chat", json={"session_id": session_id, "message": "again"})
    assert reply.json()["content"] == "Echo: again"
    window = fake_llm.last_body()["messages"]
    assert window[-2]["role"] == "assistant"  # the cancelled text is sent, as it stands
    assert window[-2]["content"].startswith("w0 ")


def test_a_whole_reply_can_be_stopped_and_answers_its_partial_content(
    client: httpx.Client, app: App, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script(SLOW_REPLY)
    answer: dict[str, Any] = {}

    def ask() -> None:
        with app.client() as own:
            body = {"session_id": session_id, "message": "long one"}
            response = own.post("/api/chat", json=body)
            answer.update(status=response.status_code, body=response.json())

    asker = threading.Thread(target=ask)
    asker.start()
    status_url = f"/api/sessions/{session_id}/status"
    assert wait_for(lambda: client.get(status_url).json()["chars_so_far"] > 0)
    asked_at = time.time()
    stopped = client.post(f"/api/sessions/{session_id}/stop").json()
    asker.join(10)
    assert stopped["stopped"] is True
    assert upstream_closed_after(fake_llm, asked_at) < STOP_DEADLINE_SECONDS
    assert answer["status"] == 200
    assert answer["body"]["finish_reason"] == "cancelled"
    assert answer["body"]["content"] == history(client, session_id)[-1]["content"]
    assert answer["body"]["content"].startswith("w0 w1 ")
    assert answer["body"]["token_usage"]["estimated"] is True


def test_stop_with_nothing_generating_is_a_200_that_says_so(client: httpx.Client) -> None:
    session_id = new_session(client)
    response = client.post(f"/api/sessions/{session_id}/stop")
    assert response.status_code == 200
    assert response.json() == {
        "stopped": False,
        "message_id": None,
        "status": "idle",
        "chars": 0,
        "detail": "no reply is being generated; nothing to stop",
    }
    assert client.post("/api/sessions/nope/stop").status_code == 404


def test_cancel_by_message_id(app: App, client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id = new_session(client)
    fake_llm.script(SLOW_REPLY)
    with app.client() as other, streaming_turn(client, session_id, deltas=2) as (start, events):
        cancelled = other.post(f"/api/messages/{start['message_id']}/cancel").json()
        assert list(events)[-1]["finish_reason"] == "cancelled"
    assert (cancelled["stopped"], cancelled["status"]) == (True, "cancelled")
    again = client.post(f"/api/messages/{start['message_id']}/cancel").json()
    assert again["stopped"] is False
    assert again["status"] == "cancelled"
    assert again["detail"] == "the reply had already ended; nothing to stop"


def test_cancel_of_unknown_or_user_message_is_404(client: httpx.Client) -> None:
    session_id = new_session(client)
    user_message = client.post(
        "/api/chat", json={"session_id": session_id, "message": "hi"}
    ).json()["user_message_id"]
    for message_id in ("no-such-message", user_message):
        response = client.post(f"/api/messages/{message_id}/cancel")
        assert response.status_code == 404
        assert response.json()["code"] == "message_not_found"


def test_a_stop_sent_to_another_process_reaches_the_owner_in_time(
    app: App, client: httpx.Client, fake_llm: FakeLLM, second_process: App
) -> None:
    """The stop is recorded in the database; the owner polls for it and closes upstream."""
    session_id = new_session(client)
    fake_llm.script(SLOW_REPLY)
    with (
        second_process.client() as elsewhere,
        streaming_turn(client, session_id, deltas=2) as (
            _,
            events,
        ),
    ):
        asked_at = time.time()
        stopped = elsewhere.post(f"/api/sessions/{session_id}/stop").json()
        rest = list(events)
    assert (stopped["stopped"], stopped["status"]) == (True, "cancelled")
    assert upstream_closed_after(fake_llm, asked_at) < STOP_DEADLINE_SECONDS
    assert rest[-1]["finish_reason"] == "cancelled"
    assert stopped["chars"] == len(history(client, session_id)[-1]["content"])
