"""The `simple` protocol (/chat, /chat/stream) against the same fake server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from models.tools import TOOL_EXAMPLE
from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, stream_chat


@pytest.fixture(scope="module")
def simple_app(tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM) -> Iterator[App]:
    app = App(tmp_path_factory.mktemp("simple"), fake_llm.url, llm_protocol="simple").start()
    yield app
    app.stop()


@pytest.fixture
def http(simple_app: App) -> Iterator[httpx.Client]:
    with simple_app.client() as client:
        yield client


def test_whole_reply_is_assembled_from_the_token_stream(
    http: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["Hi", " there"]})
    reply = chat(http, message="hi", max_new_tokens=12, temperature=0.2, do_sample=False)
    assert reply["content"] == "Hi there"
    assert reply["finish_reason"] == "stop"
    assert reply["token_usage"]["estimated"] is True
    request = fake_llm.requests()[-1]
    assert request["path"] == "/chat/stream"
    assert request["body"] == {
        "messages": [{"role": "user", "content": "hi"}],
        "max_new_tokens": 12,
        "temperature": 0.2,
        "do_sample": False,
    }


def test_tools_are_relayed_in_the_body_and_the_reply_is_its_text(
    http: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["no tools here"]})
    reply = chat(http, message="hi", tools=[TOOL_EXAMPLE], tool_choice="auto")
    assert reply["content"] == "no tools here"
    body = fake_llm.requests()[-1]["body"]
    assert (body["tools"], body["tool_choice"]) == ([TOOL_EXAMPLE], "auto")


def test_json_token_stream_ends_at_done(http: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script({"chunks": ["Hi", " there", "!"]})
    result = stream_chat(http, {"message": "hello"})
    assert result.types == ["start", "delta", "delta", "delta", "done"]
    assert result.text == "Hi there!"
    assert fake_llm.requests()[-1]["path"] == "/chat/stream"
    stored = history(http, result.events[0]["session_id"])
    assert stored[-1]["content"] == "Hi there!"
    assert stored[-1]["status"] == "complete"


def test_plain_text_stream_without_done_is_a_good_end(
    http: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["plain", " text"], "fault": "simple_plain"})
    fake_llm.script({"chunks": ["no", " marker"], "fault": "simple_no_done"})
    assert stream_chat(http, {"message": "a"}).text == "plain text"
    result = stream_chat(http, {"message": "b"})
    assert result.text == "no marker"
    assert result.last["type"] == "done"


def test_simple_errors_map_like_openai(http: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script(*[{"status": 503}] * 3, *[{"status": 500}] * 3)  # each retried twice
    response = http.post("/api/chat", json={"message": "x"})
    assert (response.status_code, response.json()["code"]) == (503, "llm_overloaded")
    assert "HTTP 503" in response.json()["detail"]
    result = stream_chat(http, {"message": "x"})
    assert result.last["code"] == "llm_upstream_error"


def test_health_probes_simple_health_endpoint(http: httpx.Client) -> None:
    report = http.get("/api/health").json()
    assert report["status"] == "ok"
    assert report["llm"]["ok"] is True
    assert report["llm"]["model"] is None
