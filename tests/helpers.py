"""Client-side helpers: what a Python httpx client of the service would write."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource


@dataclass
class StreamResult:
    status_code: int
    headers: httpx.Headers
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    body: dict[str, Any] | None = None

    @property
    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    @property
    def text(self) -> str:
        return "".join(e["content"] for e in self.events if e["type"] == "delta")

    @property
    def last(self) -> dict[str, Any]:
        return self.events[-1]


def stream_chat(http: httpx.Client, body: Any, **kwargs: Any) -> StreamResult:
    """POST /api/chat/stream and parse every event with httpx-sse."""
    return read_stream(http, "POST", "/api/chat/stream", json=body, **kwargs)


def read_stream(http: httpx.Client, method: str, url: str, **kwargs: Any) -> StreamResult:
    """Any event-stream route, read to its end and parsed with httpx-sse."""
    with http.stream(method, url, **kwargs) as response:
        result = StreamResult(response.status_code, response.headers)
        if response.status_code != 200:
            response.read()
            result.body = response.json() if response.content else None
            return result
        for sse in EventSource(response).iter_sse():
            result.events.append(json.loads(sse.data))
            result.ids.append(int(sse.id))
            result.names.append(sse.event)
    return result


def new_session(http: httpx.Client, **body: Any) -> str:
    response = http.post("/api/sessions", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


def chat(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/api/chat", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def history(http: httpx.Client, session_id: str, **params: Any) -> list[dict[str, Any]]:
    response = http.get(f"/api/sessions/{session_id}/messages", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def assert_failed_turn_then_recovery(http: httpx.Client, session_id: str, code: str) -> None:
    stored = history(http, session_id)
    assert [(m["role"], m["status"], m["error"]) for m in stored[-2:]] == [
        ("user", "complete", None),
        ("assistant", "failed", code),
    ]
    reply = chat(http, session_id=session_id, message="next")
    assert reply["content"] == "Echo: next"


@contextmanager
def streaming_turn(
    http: httpx.Client, session_id: str, deltas: int, body: dict[str, Any] | None = None
) -> Iterator[Any]:
    """Open a stream and read its start event and `deltas` deltas; the caller acts
    while the turn is still generating, then may read the rest from the iterator."""
    body = {"session_id": session_id, "message": "go slowly", **(body or {})}
    with streaming(http, "/api/chat/stream", body, deltas) as opened:
        yield opened


@contextmanager
def streaming(
    http: httpx.Client, url: str, body: dict[str, Any] | None, deltas: int
) -> Iterator[Any]:
    """streaming_turn for any stream-starting route (a regenerate's)."""
    with http.stream("POST", url, json=body) as response:
        assert response.status_code == 200
        events = (json.loads(sse.data) for sse in EventSource(response).iter_sse())
        start = next(events)
        assert start["type"] == "start"
        for _ in range(deltas):
            assert next(events)["type"] == "delta"
        yield start, events


def wait_for(check: Callable[[], Any], seconds: float = 3.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def wait_until_swept(http: httpx.Client, session_id: str, seconds: float = 5) -> None:
    """After a kill -9 and a restart: until the dead process's reply is no longer
    `streaming`. At once on SQLite (the startup sweep); on PostgreSQL within the
    app's ORPHAN_AFTER_SECONDS (a starting instance leaves recent replies alone:
    another instance may be generating them)."""
    assert wait_for(lambda: history(http, session_id)[-1]["status"] != "streaming", seconds)
