"""Idempotency-Key: a POST sent again gets the original result, never a second
session, user message or LLM call; the same key with another body is refused."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource

from tests.conftest import App, FakeLLM
from tests.helpers import history, new_session, read_stream, wait_for

REPLAYED = "Idempotent-Replayed"


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def chat_requests(fake_llm: FakeLLM) -> int:
    return sum(1 for r in fake_llm.requests() if r["path"] == "/v1/chat/completions")


def test_repeated_session_create_returns_the_same_session(client: httpx.Client) -> None:
    headers = key()
    body = {"metadata": {"user": "ana"}, "system_prompt": "Be brief."}
    first = client.post("/api/sessions", json=body, headers=headers)
    again = client.post("/api/sessions", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    # without a key, or with another key, each request is a new session
    other = client.post("/api/sessions", json=body, headers=key())
    assert other.json()["session_id"] != first.json()["session_id"]


def test_repeated_chat_returns_the_original_reply_without_a_second_turn(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    headers, body = key(), {"session_id": session_id, "message": "hello"}
    first = client.post("/api/chat", json=body, headers=headers)
    again = client.post("/api/chat", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers[REPLAYED] == "true"
    assert chat_requests(fake_llm) == 1
    assert [m["content"] for m in history(client, session_id)] == ["hello", "Echo: hello"]


def test_a_repeat_after_its_session_was_deleted_is_404_before_any_stream(
    client: httpx.Client,
) -> None:
    """Found by Schemathesis: the repeated stream failed after its 200 had been sent."""
    session_id = new_session(client)
    stream_key, whole_key = key(), key()
    first = {"session_id": session_id, "message": "streamed"}
    second = {"session_id": session_id, "message": "whole"}
    streamed = read_stream(client, "POST", "/api/chat/stream", json=first, headers=stream_key)
    assert streamed.last["type"] == "done"
    assert client.post("/api/chat", json=second, headers=whole_key).status_code == 200
    assert client.delete(f"/api/sessions/{session_id}").status_code == 204
    for path, body, headers in (
        ("/api/chat/stream", first, stream_key),
        ("/api/chat", second, whole_key),
    ):
        again = client.post(path, json=body, headers=headers)
        assert again.status_code == 404, again.text
        assert again.json()["code"] == "message_not_found"


def test_same_key_with_another_body_is_422_and_changes_nothing(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    headers = key()
    client.post("/api/chat", json={"session_id": session_id, "message": "a"}, headers=headers)
    reused = client.post(
        "/api/chat", json={"session_id": session_id, "message": "b"}, headers=headers
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert headers["Idempotency-Key"] in reused.json()["detail"]
    assert [m["content"] for m in history(client, session_id)] == ["a", "Echo: a"]
    assert chat_requests(fake_llm) == 1
    session_headers = key()
    client.post("/api/sessions", json={}, headers=session_headers)
    refused = client.post("/api/sessions", json={"metadata": {"x": 1}}, headers=session_headers)
    assert refused.json()["code"] == "idempotency_key_reused"


def test_a_key_is_scoped_to_its_route(client: httpx.Client, fake_llm: FakeLLM) -> None:
    """The same key on two routes is two requests: keys name requests per route."""
    headers = key()
    client.post("/api/sessions", json={}, headers=headers)
    reply = client.post("/api/chat", json={"message": "hi"}, headers=headers)
    assert reply.status_code == 200
    assert REPLAYED not in reply.headers


@pytest.mark.parametrize("bad", ["", "x" * 256, "caf\u00e9", "two words"])
def test_a_malformed_key_is_422_naming_the_header(client: httpx.Client, bad: str) -> None:
    response = client.post("/api/sessions", json={}, headers={b"Idempotency-Key": bad.encode()})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]


def test_repeated_stream_attaches_to_the_running_turn(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    """A client that lost its stream sends the request again: it follows the same turn
    from its start, live, and the LLM is called once."""
    words = [f"w{n} " for n in range(30)]
    fake_llm.script({"chunks": words, "chunk_delay": 0.02})
    session_id = new_session(client)
    headers, body = key(), {"session_id": session_id, "message": "tell me"}
    with client.stream("POST", "/api/chat/stream", json=body, headers=headers) as first:
        events = (json.loads(sse.data) for sse in EventSource(first).iter_sse())
        start = next(events)
        assert next(events)["type"] == "delta"
    again = read_stream(client, "POST", "/api/chat/stream", json=body, headers=headers)
    assert again.status_code == 200
    assert again.headers[REPLAYED] == "true"
    assert again.events[0] == start
    assert again.text == "".join(words)
    assert again.last["type"] == "done"
    assert again.ids == sorted(set(again.ids))
    assert chat_requests(fake_llm) == 1
    assert [m["content"] for m in history(client, session_id)] == ["tell me", "".join(words)]


def test_repeats_racing_the_original_make_one_turn(client: httpx.Client, fake_llm: FakeLLM) -> None:
    """Eight copies sent at once (a client retrying aggressively): one turn, one LLM
    call, eight identical answers."""
    fake_llm.script({"reply": "once", "delay": 0.2})
    session_id = new_session(client)
    headers, body = key(), {"session_id": session_id, "message": "racing"}
    answers: list[httpx.Response] = []

    def send() -> None:
        answers.append(client.post("/api/chat", json=body, headers=headers))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.json()["message_id"] for a in answers}) == 1
    assert sum(REPLAYED in a.headers for a in answers) == 7
    assert chat_requests(fake_llm) == 1
    assert len(history(client, session_id)) == 2


def test_repeat_of_a_failed_turn_answers_its_error_again(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"status": 400, "error": "boom"})  # not transient: not retried
    session_id = new_session(client)
    headers, body = key(), {"session_id": session_id, "message": "fail"}
    first = client.post("/api/chat", json=body, headers=headers)
    again = client.post("/api/chat", json=body, headers=headers)
    assert first.status_code == again.status_code == 502
    assert again.json()["code"] == first.json()["code"] == "llm_upstream_error"
    assert "Idempotency-Key" in again.json()["detail"]
    assert chat_requests(fake_llm) == 1
    # a new key is a new attempt
    retry = client.post("/api/chat", json=body, headers=key())
    assert retry.status_code == 200


def test_keys_survive_a_restart_then_expire_and_are_purged(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    """A key is a row: it outlives the process that stored it. Its expiry is fixed when
    it is stored, so the first key gets an hour (a restart on a slow, busy machine took
    14 s once, longer than a short TTL), and expiry is shown by a key stored by a
    process whose TTL is 5 s."""
    app: App = make_app(idempotency_ttl_hours=1)
    headers, body = key(), {"message": "kept"}
    with app.client() as http:
        first = http.post("/api/chat", json=body, headers=headers).json()
    app.restart()
    with app.client() as http:
        again = http.post("/api/chat", json=body, headers=headers)
        assert again.json() == first
        assert again.headers[REPLAYED] == "true"
        assert chat_requests(fake_llm) == 1
    app.stop()
    brief = app.sibling(idempotency_ttl_hours=5 / 3600, session_purge_interval_seconds=0.5)
    brief.start()
    try:
        assert_a_key_expires_and_is_purged(brief, fake_llm, kept=headers["Idempotency-Key"])
    finally:
        brief.stop()


def assert_a_key_expires_and_is_purged(app: App, fake_llm: FakeLLM, kept: str) -> None:
    headers, body = key(), {"message": "brief"}

    def keys() -> set[str]:
        with app.db() as db:
            return {row[0] for row in db.execute("SELECT key FROM idempotency_keys")}

    with app.client() as http:
        first = http.post("/api/chat", json=body, headers=headers).json()
        assert headers["Idempotency-Key"] in keys()
        assert wait_for(lambda: keys() == {kept}, seconds=20)  # the hour's key stays
        # forgotten: the same request is a new turn now
        later = http.post("/api/chat", json=body, headers=headers)
        assert REPLAYED not in later.headers
        assert later.json()["session_id"] != first["session_id"]
        assert chat_requests(fake_llm) == 3
