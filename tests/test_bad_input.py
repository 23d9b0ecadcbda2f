"""Bad input: always a 4xx that names the problem, and nothing stored because of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from config import Settings
from main import create_app
from tests.conftest import App, FakeLLM
from tests.helpers import new_session


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": ""}, "message"),
        ({"message": "   \n\t "}, "message"),
        ({}, "message"),
        ({"message": 42}, "message"),
        ({"message": "hi", "temperature": -0.1}, "temperature"),
        ({"message": "hi", "temperature": 2.01}, "temperature"),
        ({"message": "hi", "max_new_tokens": 0}, "max_new_tokens"),
        ({"message": "hi", "max_new_tokens": 32769}, "max_new_tokens"),
        ({"message": "hi", "max_new_tokens": 256.5}, "max_new_tokens"),
        ({"message": "hi", "max_new_tokens": "256"}, "max_new_tokens"),
        ({"message": "hi", "max_new_tokens": True}, "max_new_tokens"),
        ({"message": "hi", "top_p": 0}, "top_p"),
        ({"message": "hi", "top_p": 1.5}, "top_p"),
        ({"message": "hi", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"message": "hi", "unknown_field": 1}, "unknown_field"),
    ],
)
@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
def test_bad_chat_fields_are_422_naming_the_field(
    client: httpx.Client, fake_llm: FakeLLM, path: str, body: dict[str, object], field: str
) -> None:
    session_id = new_session(client)
    response = client.post(path, json={"session_id": session_id, **body})
    assert response.status_code == 422
    payload = response.json()
    assert payload["code"] == "validation_error"
    assert field in payload["detail"]
    assert payload["errors"][0]["field"] == field
    assert client.get(f"/api/sessions/{session_id}").json()["message_count"] == 0
    assert fake_llm.requests() == []


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
def test_a_whole_float_is_an_integer_as_json_schema_says(
    client: httpx.Client, fake_llm: FakeLLM, path: str
) -> None:
    """256.0 is a JSON Schema `integer`; it reaches the LLM server as 256."""
    response = client.post(path, json={"message": "hi", "max_new_tokens": 256.0})
    assert response.status_code == 200, response.text
    sent = fake_llm.last_body()["max_tokens"]
    assert sent == 256
    assert type(sent) is int


def test_message_over_limit_is_413_and_not_stored(make_app, fake_llm: FakeLLM) -> None:
    app: App = make_app(max_message_chars=100)
    with app.client() as http:
        session_id = new_session(http)
        for path in ("/api/chat", "/api/chat/stream"):
            response = http.post(path, json={"session_id": session_id, "message": "x" * 101})
            assert response.status_code == 413
            assert response.json()["detail"] == "message has 101 characters; the limit is 100"
        ok = http.post("/api/chat", json={"session_id": session_id, "message": "x" * 100})
        assert ok.status_code == 200
        assert http.get(f"/api/sessions/{session_id}").json()["message_count"] == 2


def test_body_over_max_body_bytes_is_413_before_parsing(make_app, fake_llm: FakeLLM) -> None:
    """Refused whether the length is declared or the body comes chunked (counted as it
    arrives): the same JSON error naming the limit, nothing stored, no LLM call."""
    app: App = make_app(max_body_bytes=4096, max_message_chars=100000)
    too_big = json.dumps({"message": "x" * 5000}).encode()

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(too_big), 1000):
            yield too_big[start : start + 1000]

    with app.client() as http:
        session_id = new_session(http)
        body_in_session = json.dumps({"session_id": session_id, "message": "x" * 5000})
        for path in ("/api/chat", "/api/chat/stream", "/api/sessions"):
            for content in (body_in_session.encode(), chunked()):
                response = http.post(
                    path, content=content, headers={"content-type": "application/json"}
                )
                assert response.status_code == 413
                assert response.json()["code"] == "payload_too_large"
                assert response.json()["detail"] == (
                    "request body over MAX_BODY_BYTES (4096 bytes); nothing was stored"
                )
        assert http.get("/api/sessions").json()["items"][0]["message_count"] == 0
        assert len(http.get("/api/sessions").json()["items"]) == 1
        assert fake_llm.requests() == []
        just_under = {"session_id": session_id, "message": "x" * 4000}
        assert http.post("/api/chat", json=just_under).status_code == 200


@pytest.mark.parametrize("metadata", [[1, 2], "text", 5, {"blob": "x" * (16 * 1024)}], ids=str)
def test_bad_metadata_is_422(client: httpx.Client, metadata: object) -> None:
    response = client.post("/api/sessions", json={"metadata": metadata})
    assert response.status_code == 422
    assert "metadata" in response.json()["detail"]
    session_id = new_session(client, metadata={"keep": True})
    patched = client.patch(f"/api/sessions/{session_id}", json={"metadata": metadata})
    assert patched.status_code == 422
    assert client.get(f"/api/sessions/{session_id}").json()["metadata"] == {"keep": True}


def test_metadata_just_under_16_kib_is_accepted(client: httpx.Client) -> None:
    metadata = {"blob": "x" * (16 * 1024 - 20)}
    assert len(json.dumps(metadata)) <= 16 * 1024
    assert client.post("/api/sessions", json={"metadata": metadata}).status_code == 201


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream", "/api/sessions"])
def test_non_json_body_is_422_naming_json(client: httpx.Client, path: str) -> None:
    response = client.post(path, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream", "/api/sessions"])
def test_wrong_content_type_is_415(client: httpx.Client, path: str) -> None:
    response = client.post(
        path, content=b'{"message": "hi"}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["detail"] == "Content-Type must be application/json, got text/plain"
    form = client.post(path, data={"message": "hi"})
    assert form.status_code == 415


def test_json_array_body_is_422(client: httpx.Client) -> None:
    response = client.post("/api/chat", json=["message", "hi"])
    assert response.status_code == 422


def test_unknown_route_and_method_give_json_errors(client: httpx.Client) -> None:
    missing = client.get("/api/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    wrong = client.put("/api/chat", json={"message": "x"})
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"
    assert wrong.headers["Allow"] == "POST"
    # RFC 9110: a 405 lists every method of the path, which here three routes share
    trace = client.request("TRACE", "/api/sessions/any-id")
    assert trace.status_code == 405
    assert trace.headers["Allow"] == "DELETE, GET, PATCH"


def test_request_id_is_echoed_or_generated(client: httpx.Client) -> None:
    echoed = client.get("/api/health/live", headers={"X-Request-ID": "my-trace-1"})
    assert echoed.headers["x-request-id"] == "my-trace-1"
    generated = client.get("/api/health/live")
    assert len(generated.headers["x-request-id"]) == 32
    error = client.get("/api/sessions/nope", headers={"X-Request-ID": "trace-404"})
    assert error.headers["x-request-id"] == "trace-404"
    assert error.json()["request_id"] == "trace-404"


def test_unexpected_error_is_500_without_traceback(tmp_path) -> None:
    """The 500 handler, exercised through a route that fails in a way no input can."""
    app: FastAPI = create_app(Settings(database_url=str(tmp_path / "x.db")))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            return await http.get("/boom", headers={"X-Request-ID": "trace-500"})

    response = asyncio.run(call())
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal server error",
        "code": "internal_error",
        "request_id": "trace-500",
    }
    assert response.headers["x-request-id"] == "trace-500"
    assert "secret" not in response.text
