"""Hygiene over real HTTP: security headers, CORS allow-lists, logs without keys or
content, errors without upstream URLs, and no request field that picks the LLM."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest

from tests.conftest import App, FakeLLM, Tenants
from tests.helpers import chat, new_session, read_stream, stream_chat

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.mark.parametrize(
    ("path", "key", "status"),
    [
        ("/docs", None, 200),
        ("/redoc", None, 200),
        ("/openapi.json", None, 200),
        ("/api/sessions", "alice", 200),
        ("/api/sessions", None, 401),
        ("/api/sessions/nope", "alice", 404),
        ("/api/health", None, 200),
        ("/no/such/route", None, 404),
    ],
)
def test_every_response_carries_the_security_headers(
    tenants: Tenants, path: str, key: str | None, status: int
) -> None:
    with tenants.client(getattr(tenants, key) if key else None) as http:
        response = http.get(path)
    assert response.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, (path, name)


def test_a_stream_carries_them_too(tenants: Tenants) -> None:
    with tenants.client(tenants.alice) as http:
        result = stream_chat(http, {"message": "hi"})
    assert result.types[-1] == "done"
    assert result.headers["x-content-type-options"] == "nosniff"


def _preflight(app: App, origin: str) -> Any:
    with app.client() as http:
        return http.options(
            "/api/chat",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )


def test_cors_allows_only_listed_origins_with_credentials(make_app: Any) -> None:
    app: App = make_app(cors_origins="https://chat.example, http://localhost:5173")
    allowed = _preflight(app, "https://chat.example")
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://chat.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = _preflight(app, "https://evil.example")
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    with app.client(headers={"Origin": "https://evil.example"}) as http:
        plain = http.get("/api/sessions")
    assert "access-control-allow-origin" not in plain.headers


def test_cors_star_never_comes_with_credentials(make_app: Any) -> None:
    app: App = make_app(cors_origins="*")
    preflight = _preflight(app, "https://anywhere.example")
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in preflight.headers


def test_no_cors_origins_means_no_browser_origin_is_allowed(make_app: Any) -> None:
    app: App = make_app()
    assert _preflight(app, "https://chat.example").status_code == 400


def _traffic(app: App, key: str, marker: str) -> None:
    """Everything that could carry content: bodies, system prompt, metadata, a GET
    stream's query string, a WebSocket URL with a key, errors."""
    headers = {"Authorization": f"Bearer {key}"}
    with app.client(headers=headers) as http:
        session_id = new_session(http, metadata={"note": marker}, system_prompt=marker)
        chat(http, session_id=session_id, message=f"{marker} whole")
        stream_chat(http, {"session_id": session_id, "message": f"{marker} streamed"})
        http.post("/api/chat", json={"session_id": session_id, "message": 5, "x": marker})
        http.post(
            "/api/chat",
            content=f'{{"message": "{marker}"',
            headers={"Content-Type": "application/json"},
        )
    with app.client() as http:
        params = {"message": f"{marker} get", "access_token": key}
        assert read_stream(http, "GET", "/api/chat/stream", params=params).status_code == 200
        http.get("/api/sessions", headers={"Authorization": f"Bearer {key}x"})


def test_logs_hold_no_key_and_no_content(make_app: Any) -> None:
    app: App = make_app(auth_mode="api_key", log_level="DEBUG")
    key, marker = app.create_key("alice"), f"SECRET-{uuid.uuid4().hex}"
    _traffic(app, key, marker)
    log = app.output()
    assert "GET /api/chat/stream?***" in log  # the request was logged, its query not
    assert marker not in log
    assert key[17:] not in log


def test_log_content_true_logs_content_but_still_no_key(make_app: Any) -> None:
    app: App = make_app(auth_mode="api_key", log_content="true")
    key, marker = app.create_key("alice"), f"SECRET-{uuid.uuid4().hex}"
    _traffic(app, key, marker)
    log = app.output()
    assert marker in log
    assert "access_token=***" in log
    assert key[17:] not in log


def test_errors_do_not_name_the_llm_servers_address(make_app: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}"
    app: App = make_app(llm_server_url=url, llm_max_retries="0")
    with app.client() as http:
        failed = http.post("/api/chat", json={"message": "hi"})
        streamed = stream_chat(http, {"message": "hi"})
    assert failed.status_code == 503
    assert str(closed_port) not in failed.text
    assert "Traceback" not in failed.text
    assert str(closed_port) not in str(streamed.events)


def test_no_request_field_can_point_the_service_at_another_llm(
    tenants: Tenants, fake_llm: FakeLLM
) -> None:
    elsewhere = "http://127.0.0.1:9"
    with tenants.client(tenants.alice) as http:
        for field in ("llm_server_url", "base_url", "api_base", "url"):
            refused = http.post("/api/chat", json={"message": "hi", field: elsewhere})
            assert refused.status_code == 422, field
            assert field in refused.json()["detail"]
        params = {"message": "hi", "llm_server_url": elsewhere, "base_url": elsewhere}
        result = read_stream(http, "GET", "/api/chat/stream", params=params)
        # `model` is a model's name, sent to the configured server, whatever it says.
        named = http.post("/api/chat", json={"message": "hi", "model": elsewhere})
    assert result.types[-1] == "done"  # the query's extras were ignored:
    assert named.status_code == 200
    asked = fake_llm.requests()
    assert len(asked) == 2  # the configured server answered both
    assert asked[1]["body"]["model"] == elsewhere
