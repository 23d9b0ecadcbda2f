"""Streamed turns read with httpx + httpx-sse, as a Python client would."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from httpx_sse import EventSource

from tests.conftest import App, FakeLLM
from tests.helpers import history, new_session, stream_chat


def test_stream_events_are_framed_ordered_and_match_the_stored_reply(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["Hel", "lo", ", ", "world", "!"]})
    result = stream_chat(client, {"message": "hi"})
    assert result.status_code == 200
    assert result.types == ["start", "delta", "delta", "delta", "delta", "delta", "done"]
    assert result.names == result.types  # `event:` repeats the data's "type"
    assert result.ids == list(range(1, 8))
    assert [e["content"] for e in result.events[1:-1]] == ["Hel", "lo", ", ", "world", "!"]
    start, done = result.events[0], result.last
    assert set(start) == {"type", "session_id", "user_message_id", "message_id"}
    assert done["message_id"] == start["message_id"]
    assert done["finish_reason"] == "stop"
    assert done["token_usage"]["total_tokens"] > 0
    stored = history(client, start["session_id"])
    assert [m["message_id"] for m in stored] == [start["user_message_id"], start["message_id"]]
    assert stored[1]["content"] == result.text == "Hello, world!"
    assert stored[1]["status"] == "complete"
    body = fake_llm.last_body()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_stream_into_existing_session_keeps_unicode_exact(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script({"chunks": ["안녕", "하세요 ", "😀", "\n\nline"]})
    result = stream_chat(client, {"session_id": session_id, "message": "안녕하세요!"})
    assert result.events[0]["session_id"] == session_id
    assert result.text == "안녕하세요 😀\n\nline"
    assert history(client, session_id)[-1]["content"] == result.text


def test_stream_headers_disable_caching_and_buffering(client: httpx.Client) -> None:
    result = stream_chat(client, {"message": "headers"}, headers={"X-Request-ID": "req-42"})
    assert result.headers["content-type"].startswith("text/event-stream")
    assert "no-cache" in result.headers["cache-control"]
    assert result.headers["x-accel-buffering"] == "no"
    assert result.headers["x-request-id"] == "req-42"


def test_keepalive_comments_flow_while_the_llm_is_silent(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["late", " and", " slow"], "delay": 1.0, "chunk_delay": 0.7})
    lines = []  # keep-alive is 0.3 s in tests
    with client.stream("POST", "/api/chat/stream", json={"message": "wait"}) as response:
        lines = list(response.iter_lines())
    first_delta = next(i for i, line in enumerate(lines) if '"type": "delta"' in line)
    assert sum(line.startswith(": keep-alive") for line in lines[:first_delta]) >= 2
    assert sum(line.startswith(": keep-alive") for line in lines[first_delta:]) >= 2


def test_keepalives_never_surface_as_events_in_httpx_sse(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["a", "b", "c"], "chunk_delay": 0.8})
    result = stream_chat(client, {"message": "x"})
    assert result.types == ["start", "delta", "delta", "delta", "done"]


def test_unknown_session_is_a_plain_404_before_any_stream(client: httpx.Client) -> None:
    result = stream_chat(client, {"session_id": str(uuid.uuid4()), "message": "hi"})
    assert result.status_code == 404
    assert result.body is not None
    assert result.body["code"] == "session_not_found"


def test_upstream_error_before_first_token_ends_with_error_event(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script(*[{"status": 500, "error": "out of memory"}] * 3)  # retried twice
    result = stream_chat(client, {"message": "x"})
    assert result.types == ["start", "error"]
    assert result.last["code"] == "llm_upstream_error"
    assert "500" in result.last["message"]
    stored = history(client, result.events[0]["session_id"])
    assert [(m["role"], m["status"]) for m in stored] == [
        ("user", "complete"),
        ("assistant", "failed"),
    ]
    assert stored[1]["error"] == "llm_upstream_error"


def test_stream_broken_mid_reply_keeps_partial_text_as_failed_and_next_turn_works(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["a", "b", "c", "d"], "fault": "break"})
    result = stream_chat(client, {"message": "x"})
    assert result.types == ["start", "delta", "delta", "error"]
    assert result.last["code"] == "llm_bad_reply"
    session_id = result.events[0]["session_id"]
    failed = history(client, session_id)[-1]
    assert failed["status"] == "failed"
    assert failed["content"] == "ab"
    assert failed["error"] == "llm_bad_reply"
    again = stream_chat(client, {"session_id": session_id, "message": "again"})
    assert again.last["type"] == "done"
    assert again.text == "Echo: again"


def test_stream_without_done_marker_is_not_a_good_reply(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"reply": "almost there", "fault": "no_done"})
    result = stream_chat(client, {"message": "x"})
    assert result.last["type"] == "error"
    assert result.last["code"] == "llm_bad_reply"
    assert "[DONE]" in result.last["message"]
    assert history(client, result.events[0]["session_id"])[-1]["status"] == "failed"


def test_malformed_chunk_and_non_sse_answers_are_bad_replies(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"reply": "one two three", "fault": "malformed_json"}, {"fault": "not_sse"})
    for _ in range(2):
        result = stream_chat(client, {"message": "x"})
        assert result.last == {"type": "error", "code": "llm_bad_reply"} | {
            "message": result.last["message"]
        }


def test_stream_read_timeout_ends_with_timeout_error(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["a", "b"], "chunk_delay": 3})  # read timeout is 2 s
    result = stream_chat(client, {"message": "x"})
    assert [e["type"] for e in result.events] == ["start", "delta", "error"]
    assert result.last["code"] == "llm_timeout"
    assert history(client, result.events[0]["session_id"])[-1]["content"] == "a"


def test_stream_to_unreachable_llm_ends_with_unavailable_error(make_app) -> None:
    app: App = make_app(llm_server_url="http://127.0.0.1:9")  # nothing listens on port 9
    with app.client() as http:
        result = stream_chat(http, {"message": "x"})
    assert result.types == ["start", "error"]
    assert result.last == {
        "type": "error",
        "code": "llm_unavailable",
        "message": "LLM server not available",
    }


WORDS = [f"w{n} " for n in range(40)]


def _read_then_drop(client: httpx.Client, body: dict[str, Any], deltas: int) -> tuple[str, str]:
    """Read `deltas` deltas of a new stream, then close the connection."""
    received, session_id = "", ""
    with client.stream("POST", "/api/chat/stream", json=body) as response:
        for sse in EventSource(response).iter_sse():
            data = json.loads(sse.data)
            if data["type"] == "start":
                session_id = data["session_id"]
            elif data["type"] == "delta":
                received += data["content"]
                if received.count("w") == deltas:
                    break
    return session_id, received


def _final_reply(client: httpx.Client, session_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (reply := history(client, session_id)[-1])["status"] == "streaming":
        assert time.monotonic() < deadline, reply
        time.sleep(0.05)
    return reply


def test_client_disconnect_does_not_stop_the_generation(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    """The reply is generated server-side: a client that leaves finds it whole later."""
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.02})
    session_id, received = _read_then_drop(client, {"message": "x"}, deltas=3)
    assert received == "w0 w1 w2 "
    reply = _final_reply(client, session_id)
    assert (reply["status"], reply["finish_reason"]) == ("complete", "stop")
    assert reply["content"] == "".join(WORDS)


def test_client_disconnect_with_on_disconnect_cancel_stores_the_partial_reply(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.1})
    body = {"message": "x", "on_disconnect": "cancel"}
    session_id, received = _read_then_drop(client, body, deltas=3)
    reply = _final_reply(client, session_id)
    assert (reply["status"], reply["finish_reason"]) == ("cancelled", "cancelled")
    assert reply["content"].startswith(received)
    assert len(reply["content"]) < len("".join(WORDS))
