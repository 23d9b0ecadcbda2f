"""What real OpenAI-compatible servers (llama.cpp's above all) do that a naive client
gets wrong: truncated streams that still end with [DONE], empty streams, context
overflow, no usage in streams. Each quirk is replayed by the fake server."""

from __future__ import annotations

import httpx

from services.memory.window import PROMPT_OVERHEAD_TOKENS, ChatMessage, message_tokens
from tests.conftest import App, FakeLLM
from tests.helpers import (
    assert_failed_turn_then_recovery,
    chat,
    history,
    new_session,
    stream_chat,
)

# llama-cpp-python's answer to a whole-reply request over its n_ctx
CONTEXT_OVERFLOW = {
    "status": 400,
    "error": "This model's maximum context length is 2048 tokens. However, you requested "
    "2100 tokens (1844 in the messages, 256 in the completion).",
    "code": "context_length_exceeded",
}


def test_stream_ending_with_done_but_no_finish_reason_is_truncated_not_complete(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script({"chunks": ["cut ", "short"], "finish_reason": None})
    result = stream_chat(client, {"session_id": session_id, "message": "hi"})
    assert result.types == ["start", "delta", "delta", "error"]
    assert result.last["code"] == "llm_truncated"
    assert history(client, session_id)[-1]["content"] == "cut short"
    assert_failed_turn_then_recovery(client, session_id, "llm_truncated")


def test_whole_reply_without_finish_reason_is_truncated(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script({"reply": "half", "finish_reason": None})
    response = client.post("/api/chat", json={"session_id": session_id, "message": "hi"})
    assert response.status_code == 502
    assert response.json()["code"] == "llm_truncated"
    assert_failed_turn_then_recovery(client, session_id, "llm_truncated")


def test_empty_event_stream_is_a_failed_turn(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id = new_session(client)
    fake_llm.script({"fault": "empty"})
    result = stream_chat(client, {"session_id": session_id, "message": "hi"})
    assert result.types == ["start", "error"]
    assert result.last == {
        "type": "error",
        "code": "llm_bad_reply",
        "message": "LLM stream ended without [DONE]",
    }
    assert_failed_turn_then_recovery(client, session_id, "llm_bad_reply")


def test_upstream_context_overflow_is_422_context_too_long(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script(CONTEXT_OVERFLOW)
    response = client.post("/api/chat", json={"session_id": session_id, "message": "hi"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "context_too_long"
    assert "maximum context length is 2048 tokens" in body["detail"]
    assert_failed_turn_then_recovery(client, session_id, "context_too_long")
    fake_llm.script(CONTEXT_OVERFLOW, CONTEXT_OVERFLOW)  # tried again with half the history
    result = stream_chat(client, {"session_id": session_id, "message": "again"})
    assert result.types == ["start", "error"]
    assert result.last["code"] == "context_too_long"


def test_stream_without_usage_counts_completion_tokens_as_chunks(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["a", "bb", "ccc", "dddd", "e"], "usage": False})
    result = stream_chat(client, {"message": "count"})
    usage = result.last["token_usage"]
    assert usage["completion_tokens"] == 5
    assert usage["estimated"] is True
    assert usage["total_tokens"] == usage["prompt_tokens"] + 5


def test_max_tokens_is_always_sent(client: httpx.Client, fake_llm: FakeLLM) -> None:
    chat(client, message="whole")
    stream_chat(client, {"message": "streamed"})
    stream_chat(client, {"message": "capped", "max_new_tokens": 7})
    assert [r["body"]["max_tokens"] for r in fake_llm.requests()] == [256, 256, 7]


def test_window_and_reply_stay_inside_the_llm_context(make_app, fake_llm: FakeLLM) -> None:
    """A long conversation on a small context: every prompt sent, with its reply room,
    fits LLM_CONTEXT_TOKENS, while the newest history is still sent."""
    app: App = make_app(llm_context_tokens=400, default_max_tokens=100, max_context_messages=50)
    with app.client() as http:
        session_id = new_session(http)
        for turn in range(12):
            chat(http, session_id=session_id, message=f"turn {turn} " + "word " * 20)
        for request in fake_llm.requests():
            body = request["body"]
            assert estimated_prompt_tokens(body["messages"]) + body["max_tokens"] <= 400
        last_prompt = fake_llm.last_body()["messages"]
        assert last_prompt[-1]["content"].startswith("turn 11 ")
        assert last_prompt[-2]["content"].startswith("Echo: turn 10 ")
        assert 3 <= len(last_prompt) < 24


def estimated_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """The service's own estimate of a prompt sent to the server."""
    body = sum(message_tokens(ChatMessage(m["role"], m["content"])) for m in messages)
    return body + PROMPT_OVERHEAD_TOKENS


def test_message_that_cannot_fit_the_context_is_refused_before_storing(
    make_app, fake_llm: FakeLLM
) -> None:
    app: App = make_app(llm_context_tokens=400, default_max_tokens=100)
    with app.client() as http:
        session_id = new_session(http)
        for body in (
            {"message": "long " * 400},
            {"message": "short", "max_new_tokens": 390},
        ):
            response = http.post("/api/chat", json={"session_id": session_id, **body})
            assert response.status_code == 422
            assert response.json()["code"] == "context_too_long"
            assert "LLM_CONTEXT_TOKENS=400" in response.json()["detail"]
            streamed = stream_chat(http, {"session_id": session_id, **body})
            assert streamed.status_code == 422
        assert history(http, session_id) == []
        assert fake_llm.requests() == []
