"""API keys over real HTTP: missing, wrong and revoked keys; keys stored as hashes;
the AUTH_MODE default; health without a key; the OpenAPI security scheme."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import FakeLLM, ServerApp, Tenants, gunicorn_argv
from tests.helpers import new_session, read_stream

KEY_SHAPE = re.compile(r"^cbk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


def test_no_key_is_401_with_a_bearer_challenge(tenants: Tenants) -> None:
    with tenants.client(None) as anonymous:
        response = anonymous.get("/api/sessions")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="chat-backend"'


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer cbk_0123456789ab_" + "x" * 43,  # well-formed, unknown
        "Bearer not-a-key",
        "Basic YWxpY2U6c2VjcmV0",  # another scheme: no bearer key at all
    ],
)
def test_a_wrong_key_is_401_and_never_echoed(tenants: Tenants, authorization: str) -> None:
    with tenants.app.client(headers={"Authorization": authorization}) as http:
        response = http.get("/api/sessions")
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert authorization.split()[1] not in response.text


def test_a_tampered_key_of_a_real_id_is_refused(tenants: Tenants) -> None:
    tampered = tenants.alice[:-1] + ("A" if tenants.alice[-1] != "A" else "B")
    with tenants.client(tampered) as http:
        response = http.get("/api/sessions")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_revoked_key_is_refused_at_once_and_its_name_can_rotate(make_app: Any) -> None:
    app = make_app(auth_mode="api_key", api_key_cache_seconds=0)  # read on every request
    old = app.create_key("carol")
    with app.client(headers={"Authorization": f"Bearer {old}"}) as http:
        session_id = new_session(http)
    revoked = app.keys("revoke", "--name", "carol")
    assert revoked.returncode == 0, revoked.stderr
    with app.client(headers={"Authorization": f"Bearer {old}"}) as http:
        response = http.get(f"/api/sessions/{session_id}")
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"
    assert "WWW-Authenticate" in response.headers
    # The name owns the sessions: a new key of the same name takes them over.
    new = app.create_key("carol")
    with app.client(headers={"Authorization": f"Bearer {new}"}) as http:
        assert http.get(f"/api/sessions/{session_id}").status_code == 200
    assert app.keys("revoke", "--name", "nobody").returncode == 1


@pytest.mark.slow
def test_a_worker_trusts_what_it_read_of_a_key_for_api_key_cache_seconds(
    make_app: Any,
) -> None:
    """A key read is remembered for API_KEY_CACHE_SECONDS: a revocation made by
    another process is seen once that has passed, not before."""
    remembering = make_app(auth_mode="api_key", api_key_cache_seconds=30)
    forgetting = make_app(auth_mode="api_key", api_key_cache_seconds=1)
    reads = []
    for app in (remembering, forgetting):
        key = app.create_key("frank")
        with app.client(headers={"Authorization": f"Bearer {key}"}) as http:
            reads.append((key, new_session(http)))  # the key is read, and remembered
        assert app.keys("revoke", "--name", "frank").returncode == 0
    (remembered, session_a), (forgotten, session_b) = reads
    with remembering.client(headers={"Authorization": f"Bearer {remembered}"}) as http:
        assert http.get(f"/api/sessions/{session_a}").status_code == 200
    revoked_by = time.monotonic() + 1.5
    with forgetting.client(headers={"Authorization": f"Bearer {forgotten}"}) as http:
        while (response := http.get(f"/api/sessions/{session_b}")).status_code == 200:
            assert time.monotonic() < revoked_by, "the revocation never reached the worker"
            time.sleep(0.05)
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_revoked"


def test_keys_are_high_entropy_shown_once_and_stored_only_as_hashes(make_app: Any) -> None:
    app = make_app(auth_mode="api_key")
    first, second = app.create_key("dave"), app.create_key("erin", admin=True)
    assert KEY_SHAPE.match(first), first
    assert KEY_SHAPE.match(second), second
    assert first[4:16] != second[4:16]
    with app.db() as db:
        rows = db.execute(
            "SELECT key_id, name, key_hash, admin FROM api_keys ORDER BY name"
        ).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [
        (first[4:16], "dave", 0),
        (second[4:16], "erin", 1),
    ]
    assert rows[0][2] == hashlib.sha256(first.encode()).hexdigest()
    secret = first[17:].encode()
    for path in app.workdir.glob("chat.db*"):
        assert secret not in path.read_bytes(), path
    listed = app.keys("list").stdout
    for shown in ("dave", "erin", first[4:16]):
        assert shown in listed
    assert first[17:] not in listed
    again = app.keys("create", "--name", "dave")
    assert again.returncode == 1
    assert "exists" in again.stderr
    bad_name = app.keys("create", "--name", "no spaces please")
    assert bad_name.returncode == 2


def test_auth_mode_defaults_to_api_key_off_loopback(make_app: Any) -> None:
    exposed = make_app(host="0.0.0.0")
    with exposed.client() as http:
        assert http.get("/api/sessions").status_code == 401
    assert "AUTH_MODE=api_key and no live key" in exposed.output()
    local = make_app(host="127.0.0.1")
    with local.client() as http:
        assert http.get("/api/sessions").status_code == 200


@pytest.mark.slow
def test_gunicorn_bound_off_loopback_defaults_to_api_key(tmp_path: Path, fake_llm: FakeLLM) -> None:
    argv = [arg.replace("127.0.0.1:", "0.0.0.0:") for arg in gunicorn_argv(1)]
    server = ServerApp(argv, tmp_path, fake_llm.url).run_from_repository()
    server.env.pop("HOST")  # only --bind says where it listens
    server.start()
    try:
        with server.client() as http:
            assert http.get("/api/sessions").status_code == 401
    finally:
        server.stop()


def test_auth_mode_none_off_loopback_warns_loudly(make_app: Any) -> None:
    app = make_app(host="0.0.0.0", auth_mode="none")
    with app.client() as http:
        assert http.get("/api/sessions").status_code == 200
    assert "AUTH_MODE=none on HOST=0.0.0.0: anyone who can reach this port" in app.output()


def test_health_is_open_but_says_only_ok_or_degraded_without_an_admin_key(
    tenants: Tenants,
) -> None:
    for key in (None, tenants.alice):
        with tenants.client(key) as http:
            health = http.get("/api/health")
            assert health.status_code == 200
            assert health.json() == {"status": "ok"}
            assert http.get("/api/health/live").status_code == 200
            assert set(http.get("/api/health/ready").json()) == {"ready", "database", "llm"}
    with tenants.client(tenants.admin) as http:
        full = http.get("/api/health").json()
    assert full["llm"]["url"] == tenants.app.env["LLM_SERVER_URL"]
    assert full["version"]
    with tenants.client("cbk_0123456789ab_" + "y" * 43) as http:
        assert http.get("/api/health").status_code == 401


def test_openapi_declares_the_bearer_scheme_for_swagger_authorize(tenants: Tenants) -> None:
    with tenants.client(None) as http:
        schema = http.get("/openapi.json").json()
        assert "swagger-ui" in http.get("/docs").text
    scheme = schema["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if path.startswith("/api/health/"):
                continue
            assert {"ApiKey": []} in operation.get("security", []), (method, path)
            assert {"401", "429"} <= set(operation["responses"]), (method, path)
    # Health takes a key optionally: {} in its security says none is fine too.
    assert schema["paths"]["/api/health"]["get"]["security"] == [{"ApiKey": []}, {}]


def test_browser_stream_routes_take_access_token(tenants: Tenants) -> None:
    """EventSource cannot send headers: the key may come as ?access_token=."""
    with tenants.client(None) as http:
        params = {"message": "hello", "access_token": tenants.alice}
        result = read_stream(http, "GET", "/api/chat/stream", params=params)
        assert result.status_code == 200
        assert result.types[-1] == "done"
        message_id = result.events[0]["message_id"]
        resumed = http.get(
            f"/api/messages/{message_id}/stream", params={"access_token": tenants.alice, "after": 0}
        )
        assert resumed.status_code == 200
        assert http.get(f"/api/messages/{message_id}/stream").status_code == 401
        # Not on other routes: a key in a URL leaks into logs and history.
        listed = http.get("/api/sessions", params={"access_token": tenants.alice})
        assert listed.status_code == 401


def test_websocket_needs_a_key_in_the_header_or_access_token(tenants: Tenants) -> None:
    with tenants.client(tenants.alice) as http:
        session_id = new_session(http)
    url = f"{tenants.app.url.replace('http', 'ws', 1)}/ws/{session_id}"
    nothing: dict[str, str] = {}
    for refused_url, headers in ((url, nothing), (f"{url}?access_token=cbk_nope", nothing)):
        with pytest.raises(InvalidStatus) as refused:
            connect(refused_url, additional_headers=headers)
        assert refused.value.response.status_code == 401
        assert "Bearer" in refused.value.response.headers["WWW-Authenticate"]
    bearer = {"Authorization": f"Bearer {tenants.alice}"}
    for open_url, headers in ((f"{url}?access_token={tenants.alice}", nothing), (url, bearer)):
        with connect(open_url, additional_headers=headers) as socket:
            assert json.loads(socket.recv(timeout=10))["type"] == "status"


def test_a_bad_key_never_reaches_the_logs(tenants: Tenants) -> None:
    wrong = "cbk_fedcba987654_" + "z" * 43
    with tenants.client(wrong) as http:
        http.get("/api/sessions")
    assert wrong[17:] not in tenants.app.output()
    assert tenants.alice[17:] not in tenants.app.output()


def test_health_key_check_is_not_needed_for_probes(tenants: Tenants) -> None:
    assert httpx.get(f"{tenants.app.url}/api/health/ready").status_code == 200


def test_without_keys_the_docs_ask_for_none(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    operations = [op for item in schema["paths"].values() for op in item.values()]
    assert not [op for op in operations if "security" in op]
    # nor answers as if it had: no key to refuse, limit or find short of admin
    assert not [op for op in operations if {"401", "403", "429"} & set(op["responses"])]
