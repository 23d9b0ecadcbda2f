"""Every LLM failure maps to a defined HTTP error and a stored `failed` message."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import App, FakeLLM
from tests.helpers import assert_failed_turn_then_recovery, history, new_session


@pytest.mark.parametrize(
    ("behaviour", "status", "code", "detail_part"),
    [
        ({"status": 500, "error": "CUDA out of memory"}, 502, "llm_upstream_error", "HTTP 500"),
        ({"status": 429, "error": "slow down"}, 503, "llm_overloaded", "HTTP 429"),
        ({"status": 400, "error": "bad request"}, 502, "llm_upstream_error", "HTTP 400"),
        ({"fault": "malformed_json"}, 502, "llm_bad_reply", "not valid JSON"),
        ({"reply": "too slow", "delay": 3}, 504, "llm_timeout", "did not answer in time"),
    ],
)
def test_llm_failure_maps_to_status_and_stores_failed_message(
    client: httpx.Client,
    fake_llm: FakeLLM,
    behaviour: dict[str, object],
    status: int,
    code: str,
    detail_part: str,
) -> None:
    session_id = new_session(client)
    transient = behaviour.get("status") in (429, 500)
    fake_llm.script(*[behaviour] * (3 if transient else 1))  # retried twice (LLM_MAX_RETRIES)
    response = client.post("/api/chat", json={"session_id": session_id, "message": "hi"})
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert detail_part in body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert_failed_turn_then_recovery(client, session_id, code)


def test_upstream_status_names_the_upstream_message(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script(*[{"status": 500, "error": "CUDA out of memory"}] * 3)
    response = client.post("/api/chat", json={"message": "hi"})
    assert response.json()["detail"] == "LLM server answered HTTP 500: CUDA out of memory"


def test_unreachable_llm_is_503_llm_server_not_available(make_app, fake_llm: FakeLLM) -> None:
    app: App = make_app(llm_server_url="http://127.0.0.1:9")
    with app.client() as http:
        session_id = new_session(http)
        response = http.post("/api/chat", json={"session_id": session_id, "message": "hi"})
        assert response.status_code == 503
        assert response.json()["detail"] == "LLM server not available"
        stored = history(http, session_id)
        assert [(m["role"], m["status"]) for m in stored] == [
            ("user", "complete"),
            ("assistant", "failed"),
        ]


def test_reply_without_content_is_a_bad_reply(client: httpx.Client, fake_llm: FakeLLM) -> None:
    fake_llm.script({"status": 200, "error": "not a completion"})
    response = client.post("/api/chat", json={"message": "hi"})
    assert response.status_code == 502
    assert response.json()["code"] == "llm_bad_reply"
