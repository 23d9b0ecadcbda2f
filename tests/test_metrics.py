"""GET /metrics (issue 22): Prometheus' text format, read back with prometheus-client's
own parser, its counters moved by real turns against the fake LLM; an admin key's
only with AUTH_MODE=api_key; under gunicorn, every worker's turns in each scrape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import FakeLLM, ServerApp, gunicorn_argv
from tests.helpers import chat, new_session


def scrape(http: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample: (name, labels) -> value."""
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metered(make_app: Any) -> Iterator[Any]:
    app = make_app(auth_mode="api_key", auto_title="true", rate_limit="")
    admin = app.create_key("ops", admin=True)
    user = app.create_key("user")
    with (
        app.client(headers={"Authorization": f"Bearer {admin}"}) as ops,
        app.client(headers={"Authorization": f"Bearer {user}"}) as http,
    ):
        yield app, ops, http


def test_turns_tokens_timings_and_errors_move_the_counters(metered: Any, fake_llm: FakeLLM) -> None:
    app, ops, http = metered
    before = scrape(ops)
    session = new_session(http)
    fake_llm.script({"reply": "one two three"}, {"reply": "A title"})
    chat(http, session_id=session, message="hello")
    fake_llm.script({"status": 400, "error": "bad request"})
    failed = http.post("/api/chat", json={"session_id": session, "message": "again"})
    assert failed.status_code == 502, failed.text
    with http.stream(
        "POST", "/api/chat/stream", json={"session_id": session, "message": "stream"}
    ) as stream:
        stream.read()
    assert http.get(f"/api/sessions/{new_session(http)}x").status_code == 404
    deadline = time.monotonic() + 10
    while not http.get(f"/api/sessions/{session}").json()["title"]:
        assert time.monotonic() < deadline, "no title"
        time.sleep(0.05)
    after = scrape(ops)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("chat_turns_total", outcome="complete") == 2
    assert moved("chat_turns_total", outcome="failed") == 1
    assert moved("chat_turn_errors_total", code=failed.json()["code"]) == 1
    assert moved("chat_http_errors_total", status="404", code="session_not_found") == 1
    assert moved("chat_http_errors_total", status="502", code=failed.json()["code"]) == 1
    assert moved("chat_tokens_total", model="fake-model", direction="completion") >= 4
    assert moved("chat_tokens_total", model="fake-model", direction="prompt") > 0
    assert moved("chat_time_to_first_token_seconds_count") == 2
    assert moved("chat_turn_duration_seconds_count") == 3
    assert moved("chat_db_write_seconds_count") >= 6  # two writes a turn at least
    assert moved("chat_background_jobs_total", kind="title", outcome="done") == 1
    assert value(after, "chat_replies_generating") == 0
    assert value(after, "chat_upstream_up", server=fake_llm.url) == 1
    assert value(after, "chat_upstream_failures", server=fake_llm.url) == 0
    assert "Traceback" not in app.output()


def test_replies_generating_counts_a_reply_while_it_streams(
    metered: Any, fake_llm: FakeLLM
) -> None:
    _, ops, http = metered
    session = new_session(http)
    fake_llm.script({"reply": "a b c d e f", "chunk_delay": 0.3})
    body = {"session_id": session, "message": "slow"}
    with http.stream("POST", "/api/chat/stream", json=body) as stream:
        lines = stream.iter_lines()
        next(lines)
        assert value(scrape(ops), "chat_replies_generating") == 1
        for _ in lines:  # to the end of the reply
            pass
    assert value(scrape(ops), "chat_replies_generating") == 0


def test_metrics_take_an_admin_key(metered: Any) -> None:
    app, _, http = metered
    refused = http.get("/metrics")
    assert (refused.status_code, refused.json()["code"]) == (403, "admin_required")
    with app.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401


@pytest.mark.slow
def test_every_workers_turns_are_in_each_scrape(
    tmp_path: Any, fake_llm: FakeLLM, new_database: Any
) -> None:
    """Two gunicorn workers, a new connection per request (either may answer): each
    scrape sums both workers' turns (PROMETHEUS_MULTIPROC_DIR from gunicorn.conf.py)."""
    app = ServerApp(gunicorn_argv(workers=2), tmp_path, fake_llm.url, **new_database())
    app.run_from_repository().start()
    try:
        with app.client(headers={"Connection": "close"}) as http:
            before = [value(scrape(http), "chat_turns_total", outcome="complete")]
            for _ in range(8):
                chat(http, message="hi")
            after = [value(scrape(http), "chat_turns_total", outcome="complete") for _ in range(6)]
        assert after == [before[0] + 8] * 6
    finally:
        app.stop()
    assert "Traceback" not in app.output()
