"""The OpenAI door's chat completions and model list (issue 21), judged by the
official `openai` Python SDK: nothing here parses a /v1 answer by hand where the SDK
can. The session side is read back over /api, which is our own shape."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.conftest import App, FakeLLM, RefusedPort
from tests.fake_llm import MODEL
from tests.helpers import history, new_session

HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]


def sdk(app: App, key: str = "unused with AUTH_MODE=none") -> OpenAI:
    """The SDK as an app would build it; no retries, so that each call is one request."""
    return OpenAI(base_url=f"{app.url}/v1", api_key=key, max_retries=0, timeout=30)


@pytest.fixture
def client_sdk(app: App) -> Iterator[OpenAI]:
    with sdk(app) as made:
        yield made


def upstream_messages(fake_llm: FakeLLM) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in fake_llm.last_body()["messages"]]


def test_without_a_session_the_request_is_stored_as_a_new_session(
    client_sdk: OpenAI, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]
    raw = client_sdk.chat.completions.with_raw_response.create(
        model="any-model", messages=messages, metadata={"topic": "tests"}
    )
    completion = raw.parse()
    session_id = raw.headers["X-Session-Id"]
    assert completion.choices[0].message.content == "Echo: second question"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.object == "chat.completion"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert completion.model_extra == {
        "session_id": session_id,
        "message_id": completion.id.removeprefix("chatcmpl-"),
    }
    assert upstream_messages(fake_llm) == [
        ("system", "You are terse."),
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
    ]
    assert fake_llm.last_body()["model"] == "any-model"
    stored = [(m["role"], m["content"]) for m in history(client, session_id)]
    assert stored == [*upstream_messages(fake_llm)[1:], ("assistant", "Echo: second question")]
    session = client.get(f"/api/sessions/{session_id}").json()
    assert (session["system_prompt"], session["metadata"]) == ("You are terse.", {"topic": "tests"})


def test_a_session_header_gives_memory_from_stored_history(
    client_sdk: OpenAI, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client, system_prompt="Remember everything.")
    header = {"X-Session-Id": session_id}
    for question in ("my name is Ada", "what is my name?"):
        client_sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}], extra_headers=header
        )
    assert upstream_messages(fake_llm) == [
        ("system", "Remember everything."),
        ("user", "my name is Ada"),
        ("assistant", "Echo: my name is Ada"),
        ("user", "what is my name?"),
    ]
    # metadata.session_id names it too; the earlier messages of the request are not read
    third = client_sdk.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "ignored: history comes from the session"},
            {"role": "user", "content": "third"},
        ],
        metadata={"session_id": session_id},
    )
    assert third.model_extra is not None
    assert third.model_extra["session_id"] == session_id
    assert len(history(client, session_id)) == 6
    assert upstream_messages(fake_llm)[-1] == ("user", "third")


def test_a_stream_sends_openai_chunks_with_usage_and_stores_the_reply(
    client_sdk: OpenAI, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script({"reply": "one two three"})
    stream = client_sdk.chat.completions.create(
        model=MODEL,
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Session-Id": session_id},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    finished = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finished[-1] == "stop"
    assert set(finished[:-1]) == {None}
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens > 0
    assert {c.id for c in chunks} == {f"chatcmpl-{history(client, session_id)[-1]['message_id']}"}
    assert stream.response.headers["X-Session-Id"] == session_id
    assert history(client, session_id)[-1]["content"] == "one two three"


def test_the_sdks_stream_helper_assembles_the_reply(client_sdk: OpenAI) -> None:
    with client_sdk.chat.completions.stream(model=MODEL, messages=HELLO) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert {"chunk", "content.delta", "content.done"} <= kinds
    assert final.choices[0].message.content == "Echo: hello there"
    assert final.choices[0].finish_reason == "stop"


def test_models_list_the_upstream_and_each_profile(
    client_sdk: OpenAI, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    name = f"planner-{uuid.uuid4().hex[:6]}"
    made = client.post("/api/profiles", json={"name": name, "system_prompt": "You plan."})
    listed = {(m.id, m.owned_by) for m in client_sdk.models.list()}
    assert {(MODEL, "upstream"), (f"profile:{name}", "profile")} <= listed

    raw = client_sdk.chat.completions.with_raw_response.create(
        model=f"profile:{name}", messages=HELLO
    )
    session_id = raw.headers["X-Session-Id"]
    assert (
        client.get(f"/api/sessions/{session_id}").json()["profile_id"] == made.json()["profile_id"]
    )
    assert upstream_messages(fake_llm)[0] == ("system", "You plan.")
    assert fake_llm.last_body()["model"] == MODEL  # the profile names none: the server's
    with pytest.raises(openai.UnprocessableEntityError) as other:
        client_sdk.chat.completions.create(
            model=f"profile:{name}",
            messages=HELLO,
            extra_headers={"X-Session-Id": new_session(client)},
        )
    assert other.value.code == "session_conflict"


def test_errors_are_the_sdks_own_exception_types(client_sdk: OpenAI, fake_llm: FakeLLM) -> None:
    missing = {"X-Session-Id": str(uuid.uuid4())}
    with pytest.raises(openai.NotFoundError) as not_found:
        client_sdk.chat.completions.create(model=MODEL, messages=HELLO, extra_headers=missing)
    assert not_found.value.code == "session_not_found"
    assert not_found.value.type == "not_found_error"
    with pytest.raises(openai.NotFoundError) as no_profile:
        client_sdk.chat.completions.create(model="profile:nobody-has-this", messages=HELLO)
    assert no_profile.value.code == "model_not_found"
    with pytest.raises(openai.UnprocessableEntityError) as bad:
        client_sdk.chat.completions.create(model=MODEL, messages=HELLO, temperature=3)
    assert (bad.value.code, bad.value.param) == ("validation_error", "temperature")
    refused: dict[str, Any] = {"parallel_tool_calls": False, "n": 2, "logprobs": True}
    for name, value in refused.items():
        with pytest.raises(openai.UnprocessableEntityError) as unsupported:
            client_sdk.chat.completions.create(
                model=MODEL, messages=HELLO, extra_body={name: value}
            )
        assert unsupported.value.param == name
    fake_llm.script({"status": 400, "error": "bad prompt"})
    with pytest.raises(openai.APIStatusError) as upstream:
        client_sdk.chat.completions.create(model=MODEL, messages=HELLO)
    assert upstream.value.status_code == 502
    assert upstream.value.type == "server_error"


def test_a_failure_mid_stream_is_raised_by_the_sdk(
    client_sdk: OpenAI, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script({"chunks": ["a ", "b ", "c ", "d "], "fault": "break"})
    stream = client_sdk.chat.completions.create(
        model=MODEL, messages=HELLO, stream=True, extra_headers={"X-Session-Id": session_id}
    )
    received: list[Any] = []
    with pytest.raises(openai.APIError) as failed:
        received.extend(stream)
    assert received
    assert "LLM" in failed.value.message
    assert history(client, session_id)[-1]["status"] == "failed"


@pytest.mark.sqlite_only("the upstream's model list: no database in it")
def test_models_union_the_servers_that_answer_and_fail_when_none_does(
    make_app: Any, fake_llm: FakeLLM, refused_port: RefusedPort
) -> None:
    """With a dead server before the fake one, the list is the fake's; with only dead
    servers, the upstream's own error (503), not a list of profiles alone."""
    dead = refused_port.url
    with sdk(make_app(llm_server_url=f"{dead},{fake_llm.url}")) as some:
        assert [m.id for m in some.models.list()] == [MODEL]
    with sdk(make_app(llm_server_url=dead)) as none, pytest.raises(openai.APIStatusError) as down:
        none.models.list()
    assert (down.value.status_code, down.value.code) == (503, "llm_unavailable")


def test_a_refused_turn_leaves_no_session_behind(make_app: Any, fake_llm: FakeLLM) -> None:
    """Without a session the request is stored as one first; a turn then refused
    before it began (its message over MAX_MESSAGE_CHARS) takes that session with it,
    as a refused /api turn leaves nothing. A turn that began and failed keeps it."""
    app: App = make_app(max_message_chars=40)
    messages: list[Any] = [
        {"role": "user", "content": "earlier"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "x" * 41},
    ]
    with sdk(app) as client, app.client() as http:
        with pytest.raises(openai.APIStatusError) as refused:
            client.chat.completions.create(model=MODEL, messages=messages)
        assert refused.value.status_code == 413
        with pytest.raises(openai.APIStatusError):
            client.responses.create(model=MODEL, input=messages, stream=True)
        assert http.get("/api/sessions").json()["items"] == []
        fake_llm.script({"status": 400, "error": "bad prompt"})
        with pytest.raises(openai.APIStatusError) as failed:
            client.chat.completions.create(model=MODEL, messages=HELLO)
        assert failed.value.status_code == 502
        (kept,) = http.get("/api/sessions").json()["items"]
        assert [m["status"] for m in history(http, kept["session_id"])] == ["complete", "failed"]
