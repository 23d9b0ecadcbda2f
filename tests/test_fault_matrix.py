"""The upstream fault matrix: for each way the LLM server can fail, the client's
answer, the stored message states, how many upstream calls were made (retries only
before the first token), and that the session's next turn works.

Each row is a fault mode of tests/fake_llm.py, against the real app over HTTP.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import App, FakeLLM, RefusedPort
from tests.helpers import chat, history, new_session, stream_chat, wait_for

WORDS = ["one ", "two ", "three ", "four ", "five ", "six"]
TEXT = "".join(WORDS)
OVER_CONTEXT = {
    "status": 400,
    "error": "This model's maximum context length is 2048 tokens.",
    "code": "context_length_exceeded",
}


@dataclass(frozen=True)
class Row:
    """One fault: what the fake server does, and everything the service must do."""

    behaviours: list[dict[str, Any]]
    status: int  # the whole-reply answer
    code: str | None = None  # its error code; None for 200
    stored: str = "failed"  # the assistant message's status
    text: str | None = ""  # the stored text, None: not checked
    calls: int = 1  # upstream requests made
    finish_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


MATRIX: dict[str, Row] = {
    "500 before the first token, then ok: retried": Row(
        [{"status": 500}, {"chunks": WORDS}], 200, stored="complete", text=TEXT, calls=2
    ),
    "502, 503, then ok: retried twice": Row(
        [{"status": 502}, {"status": 503}, {"chunks": WORDS}],
        200,
        stored="complete",
        text=TEXT,
        calls=3,
    ),
    "500 every time: LLM_MAX_RETRIES, then 502": Row(
        [{"status": 500, "error": "CUDA out of memory"}] * 3, 502, "llm_upstream_error", calls=3
    ),
    "503 every time: busy, 503": Row([{"status": 503}] * 3, 503, "llm_overloaded", calls=3),
    "429 with Retry-After past the deadline: no wait, 503 passing it on": Row(
        [{"status": 429, "retry_after": "120"}], 503, "llm_overloaded", extra={"retry_after": "120"}
    ),
    "connection closed without an answer once: retried": Row(
        [{"fault": "close"}, {"chunks": WORDS}], 200, stored="complete", text=TEXT, calls=2
    ),
    "connection reset without an answer once: retried": Row(
        [{"fault": "reset"}, {"chunks": WORDS}], 200, stored="complete", text=TEXT, calls=2
    ),
    "connection closed without an answer every time: LLM_MAX_RETRIES, then 502": Row(
        [{"fault": "close"}] * 3, 502, "llm_no_response", calls=3
    ),
    "400 (not about the context): not retried": Row(
        [{"status": 400, "error": "bad request"}], 502, "llm_upstream_error"
    ),
    "error event after some tokens: not retried, partial text kept": Row(
        [{"chunks": WORDS, "fault": "error_event"}], 502, "llm_bad_reply", text="one two three "
    ),
    "connection broken after some tokens": Row(
        [{"chunks": WORDS, "fault": "break"}], 502, "llm_bad_reply", text="one two three "
    ),
    "malformed JSON after some tokens": Row(
        [{"chunks": WORDS, "fault": "malformed_json"}], 502, "llm_bad_reply", text="one two three "
    ),
    "malformed SSE lines: ignored as the SSE spec says": Row(
        [{"chunks": WORDS, "fault": "malformed_sse"}], 200, stored="complete", text=TEXT
    ),
    "stream closed without [DONE]": Row(
        [{"chunks": WORDS, "fault": "no_done"}], 502, "llm_bad_reply", text=TEXT
    ),
    "empty event stream": Row([{"fault": "empty"}], 502, "llm_bad_reply"),
    "empty reply (no text, then stop)": Row([{"chunks": []}], 502, "llm_empty_reply"),
    "no first byte within LLM_READ_TIMEOUT: not retried": Row(
        [{"chunks": WORDS, "delay": 3}], 504, "llm_timeout"
    ),
    "stall mid-stream past LLM_READ_TIMEOUT": Row(
        [{"chunks": WORDS, "stall_after": 2, "stall": 4}], 504, "llm_timeout", text="one two "
    ),
    "invalid UTF-8: replaced by U+FFFD, reply kept": Row(
        [{"chunks": WORDS, "fault": "invalid_utf8"}],
        200,
        stored="complete",
        text="one two three four \ufffd\ufffdfive six",
    ),
    "characters cut across reads: reassembled exactly": Row(
        [{"chunks": ["안녕하세요 ", "😀👍🏽 ", "שלום"], "fault": "split_utf8"}],
        200,
        stored="complete",
        text="안녕하세요 😀👍🏽 שלום",
    ),
}
STREAMED = [
    "500 before the first token, then ok: retried",
    "connection closed without an answer once: retried",
    "connection closed without an answer every time: LLM_MAX_RETRIES, then 502",
    "error event after some tokens: not retried, partial text kept",
    "stall mid-stream past LLM_READ_TIMEOUT",
    "stream closed without [DONE]",
    "characters cut across reads: reassembled exactly",
]


def chat_calls(fake_llm: FakeLLM) -> list[dict[str, Any]]:
    return [r for r in fake_llm.requests() if r["path"] == "/v1/chat/completions"]


def assert_stored_then_next_turn_works(
    http: httpx.Client, session_id: str, row: Row, fake_llm: FakeLLM
) -> None:
    stored = history(http, session_id)
    user, reply = stored[-2:]
    assert (user["role"], user["status"], user["content"]) == ("user", "complete", "hi")
    assert reply["status"] == row.stored
    assert reply["error"] == (row.code if row.stored == "failed" else None)
    if row.text is not None:
        assert reply["content"] == row.text
    assert len(chat_calls(fake_llm)) == row.calls
    assert chat(http, session_id=session_id, message="next")["content"] == "Echo: next"


@pytest.mark.parametrize("name", list(MATRIX))
def test_whole_reply(client: httpx.Client, fake_llm: FakeLLM, name: str) -> None:
    row = MATRIX[name]
    session_id = new_session(client)
    fake_llm.script(*row.behaviours)
    response = client.post("/api/chat", json={"session_id": session_id, "message": "hi"})
    assert response.status_code == row.status, response.text
    if row.code:
        assert response.json()["code"] == row.code
        assert "Traceback" not in response.text
    else:
        assert response.json()["content"] == row.text
    if "retry_after" in row.extra:
        assert response.headers["Retry-After"] == row.extra["retry_after"]
    assert_stored_then_next_turn_works(client, session_id, row, fake_llm)


@pytest.mark.parametrize("name", STREAMED)
def test_stream(client: httpx.Client, fake_llm: FakeLLM, name: str) -> None:
    """Streamed: retries are invisible (one start, no error); a failure after tokens
    ends the stream with an `error` event after the deltas it had sent."""
    row = MATRIX[name]
    session_id = new_session(client)
    fake_llm.script(*row.behaviours)
    result = stream_chat(client, {"session_id": session_id, "message": "hi"})
    assert result.types.count("start") == 1
    assert result.text == (row.text if row.text is not None else result.text)
    if row.code:
        assert result.last == {"type": "error", "code": row.code, "message": result.last["message"]}
    else:
        assert result.last["type"] == "done"
    assert_stored_then_next_turn_works(client, session_id, row, fake_llm)


def test_429_waits_for_retry_after_then_succeeds(client: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script({"status": 429, "retry_after": "1"})
    reply = chat(client, message="patience")
    assert reply["content"] == "Echo: patience"
    first, second = chat_calls(fake_llm)
    assert 1.0 <= second["received_at"] - first["received_at"] < 3.0


def test_backoff_between_retries_is_jittered_and_grows(make_app: Any, fake_llm: FakeLLM) -> None:
    app: App = make_app(llm_retry_backoff_seconds=0.4, llm_max_retries=2)
    fake_llm.script({"status": 500}, {"status": 500})
    with app.client() as http:
        chat(http, message="slowly")
    times = [r["received_at"] for r in chat_calls(fake_llm)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.2 <= gaps[0] < 0.6  # 0.4: half fixed, half random
    assert 0.4 <= gaps[1] < 1.0  # doubled


def test_context_overflow_retries_once_with_half_the_history(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client, system_prompt="Be brief.")
    for turn in range(4):
        chat(client, session_id=session_id, message=f"turn {turn} " + "word " * 10)
    fake_llm.reset()
    fake_llm.script(OVER_CONTEXT)
    reply = chat(client, session_id=session_id, message="and now?")
    assert reply["content"] == "Echo: and now?"
    full, halved = (call["body"]["messages"] for call in chat_calls(fake_llm))
    assert len(full) == 10  # system, 8 history, the new message
    assert halved[0] == full[0]
    assert halved[-1] == full[-1] == {"role": "user", "content": "and now?"}
    assert halved[1:-1] == full[-1 - (len(halved) - 2) : -1]  # the newest history
    assert 0 < len(halved) - 2 <= 4


def test_context_overflow_twice_is_422_context_too_long(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    chat(client, session_id=session_id, message="some history")
    fake_llm.script(OVER_CONTEXT, OVER_CONTEXT)
    response = client.post("/api/chat", json={"session_id": session_id, "message": "hi"})
    assert (response.status_code, response.json()["code"]) == (422, "context_too_long")
    row = Row([], 422, "context_too_long", calls=3)  # the history turn, then two tries
    assert_stored_then_next_turn_works(client, session_id, row, fake_llm)


def test_context_overflow_without_history_is_not_retried(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script(OVER_CONTEXT)
    response = client.post("/api/chat", json={"message": "first"})
    assert response.json()["code"] == "context_too_long"
    assert len(chat_calls(fake_llm)) == 1


def test_reply_over_max_reply_chars_is_cut_with_finish_reason_length(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app: App = make_app(max_reply_chars=10)
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.05}, {"chunks": WORDS})
    with app.client() as http:
        session_id = new_session(http)
        reply = chat(http, session_id=session_id, message="long")
        assert (reply["content"], reply["finish_reason"]) == ("one two th", "length")
        streamed = stream_chat(http, {"session_id": session_id, "message": "long"})
        assert streamed.text == "one two th"
        assert streamed.last["finish_reason"] == "length"
        stored = history(http, session_id)
        assert [(m["status"], m["content"]) for m in stored[1::2]] == [
            ("complete", "one two th")
        ] * 2
    # the upstream stream was closed at the cut: the server stops generating
    assert wait_for(lambda: chat_calls(fake_llm)[0].get("ended") == "client_disconnected")


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A port whose connection attempts are never answered: a listener with a full
    accept queue drops new SYNs, so connecting times out."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        for filler in fillers:
            filler.close()


def test_connect_timeout_is_503_llm_unavailable(make_app: Any, blackhole: str) -> None:
    """LLM_CONNECT_TIMEOUT bounds every connection attempt of the turn: the model
    lookup and the tokenizer probe before it too, which otherwise wait for their
    whole (here 10 s) answer timeout each."""
    app: App = make_app(
        llm_server_url=blackhole,
        llm_connect_timeout=0.3,
        llm_max_retries=1,
        llm_health_timeout=10,
        llm_read_timeout=10,
    )
    with app.client() as http:
        session_id = new_session(http)
        started = time.monotonic()
        response = http.post(
            "/api/chat", json={"session_id": session_id, "message": "hi"}, timeout=60
        )
        assert time.monotonic() - started < 8  # six attempts of 0.3 s, not 10 s each
        assert (response.status_code, response.json()["code"]) == (503, "llm_unavailable")
        assert history(http, session_id)[-1]["status"] == "failed"


def test_connection_refused_then_the_server_comes_back(
    make_app: Any, tmp_path: Any, refused_port: RefusedPort
) -> None:
    """Refused (retried, then 503, stored failed); once a server listens on that port
    the same session's next turn works, without restarting the service."""
    app: App = make_app(llm_server_url=refused_port.url)
    with app.client() as http:
        session_id = new_session(http)
        response = http.post("/api/chat", json={"session_id": session_id, "message": "hi"})
        assert (response.status_code, response.json()["code"]) == (503, "llm_unavailable")
        assert history(http, session_id)[-1]["status"] == "failed"
        refused_port.release()
        revived = FakeLLM(tmp_path, refused_port.port)
        revived.start()
        try:
            assert chat(http, session_id=session_id, message="back?")["content"] == "Echo: back?"
        finally:
            revived.proc.stop()
