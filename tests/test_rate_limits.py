"""Per-key limits over real HTTP: requests per period (RATE_LIMIT) and replies
generating at once (RATE_LIMIT_CONCURRENT_STREAMS), hit and recovered."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import App, FakeLLM
from tests.helpers import chat, new_session, streaming_turn

SLOW_REPLY = {"chunks": [f"w{n} " for n in range(30)], "chunk_delay": 0.05}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_requests_over_the_rate_get_429_with_retry_after_then_recover(make_app: Any) -> None:
    app: App = make_app(auth_mode="api_key", rate_limit="3 per 2 seconds")
    alice, bob = app.create_key("alice"), app.create_key("bob")
    with app.client(headers=bearer(alice)) as http, app.client(headers=bearer(bob)) as other:
        assert [http.get("/api/sessions").status_code for _ in range(3)] == [200] * 3
        counted = time.monotonic()  # all three are in the window from here (a moving one)
        refused = http.get("/api/sessions")
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert "3 per 2 second" in refused.json()["detail"]
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        assert other.get("/api/sessions").status_code == 200  # per key: bob is not limited
        time.sleep(max(0.0, counted + 2.1 - time.monotonic()))
        assert http.get("/api/sessions").status_code == 200  # the window moved on


@pytest.mark.slow
def test_a_keys_concurrent_streams_are_capped_across_workers(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app: App = make_app(auth_mode="api_key", rate_limit_concurrent_streams=1, rate_limit="")
    sibling = app.sibling(**_settings_of(app), interrupt_orphans_at_startup="false")
    sibling.start()
    try:
        alice, bob = app.create_key("alice"), app.create_key("bob")
        with (
            app.client(headers=bearer(alice)) as http,
            sibling.client(headers=bearer(alice)) as elsewhere,
            sibling.client(headers=bearer(bob)) as other,
        ):
            first, second = new_session(http), new_session(http)
            fake_llm.script(SLOW_REPLY)
            with streaming_turn(http, first, deltas=1) as (_, events):
                refused = elsewhere.post("/api/chat", json={"session_id": second, "message": "hi"})
                assert refused.status_code == 429
                assert refused.json()["code"] == "too_many_streams"
                assert refused.headers["Retry-After"] == "2"
                assert http.get(f"/api/sessions/{second}").json()["message_count"] == 0
                assert chat(other, message="bob is not limited")["finish_reason"] == "stop"
                rest = list(events)
            assert rest[-1]["type"] == "done"
            assert chat(elsewhere, session_id=second, message="now")["finish_reason"] == "stop"
    finally:
        sibling.stop()


def _settings_of(app: App) -> dict[str, str]:
    names = ("AUTH_MODE", "RATE_LIMIT", "RATE_LIMIT_CONCURRENT_STREAMS")
    return {name.lower(): app.env[name] for name in names}
