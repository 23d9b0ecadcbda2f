"""Hostile input: slow bodies time out; deep nesting, huge numbers, NaN, NUL, lone
surrogates are accepted or refused with a 4xx naming the problem; text of any script
is stored and returned byte-exact."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from typing import Any

import httpx
import pytest

from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, new_session, read_stream

# Right-to-left Hebrew and Arabic with their marks, a family emoji joined by ZWJ, a
# flag, a skin tone, combining accents, Hangul, astral CJK, control characters.
EXACT_TEXTS = [
    "שָׁלוֹם עוֹלָם \u200f(RTL)\u200e مرحبا بالعالم \u061c\u0661\u0662\u0663",
    "👩\u200d👩\u200d👧\u200d👦 🇰🇷 👍🏽 e\u0301 n\u0303 \ufe0f",
    "안녕하세요 𠜎𠜱 \U0001f9ea",
    "a\u0001b \u001f\u007f tab\there \r\n crlf \u2028 \u2029",
]


def raw_request(app: App, head: bytes, body_pieces: list[bytes], gap: float) -> bytes:
    """Send a request by hand, its body a piece at a time; return all the server sent."""
    with socket.create_connection(("127.0.0.1", app.port), timeout=10) as conn:
        conn.sendall(head)
        for piece in body_pieces:
            time.sleep(gap)
            try:
                conn.sendall(piece)
            except OSError:
                break  # the server closed on us
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # closed with our unread bytes still in its buffer: a reset, after the answer
    return received


@pytest.fixture(scope="module")
def impatient_app(tmp_path_factory: pytest.TempPathFactory, fake_llm: Any) -> Any:
    instance = App(tmp_path_factory.mktemp("impatient"), fake_llm.url)
    instance.env["REQUEST_BODY_TIMEOUT_SECONDS"] = "1"
    instance.proc.env = instance.env
    instance.start()
    yield instance
    instance.stop()


def test_a_slow_loris_body_gets_408_and_its_connection_closed(impatient_app: App) -> None:
    body = json.dumps({"metadata": {"slow": "x" * 40}}).encode()
    head = (
        b"POST /api/sessions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_request(impatient_app, head, [body[i : i + 1] for i in range(len(body))], 0.2)
    took = time.monotonic() - started
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:300]
    error = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert error["code"] == "request_timeout"
    assert "REQUEST_BODY_TIMEOUT_SECONDS" in error["detail"]
    assert took < 5  # answered at the limit (1 s) and closed, not when the body ended
    with impatient_app.client() as http:
        assert http.get("/api/sessions").json()["items"] == []  # nothing stored
        assert http.post("/api/sessions", json={}).status_code == 201  # still serving


def test_a_body_sent_at_a_normal_pace_is_not_timed_out(impatient_app: App) -> None:
    body = json.dumps({"metadata": {"pace": "ok"}}).encode()
    head = (
        b"POST /api/sessions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    answer = raw_request(impatient_app, head, [body[:10], body[10:]], 0.3)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ('{"message": "x", "session_id": ' + "[" * 100_000 + "]" * 100_000 + "}", 400, ""),
        ('{"message": "hi", "max_new_tokens": 1' + "0" * 5000 + "}", 400, ""),
        ('{"message": "hi", "max_new_tokens": 1e400}', 422, "max_new_tokens"),
        ('{"message": "hi", "temperature": NaN}', 422, "temperature"),
        ('{"message": "hi", "top_p": -Infinity}', 422, "top_p"),
        ('{"message": "hi", "max_new_tokens": 256.5}', 422, "max_new_tokens"),
        ('{"message": "\\ud800 lone"}', 422, "message"),
        ('{"message": "hi", "stop": ["\\udfff"]}', 422, "stop"),
    ],
)
def test_hostile_chat_bodies_are_refused_by_name(
    client: httpx.Client, body: str, status: int, names: str
) -> None:
    response = client.post("/api/chat", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()
    assert names in error["detail"]
    assert error["request_id"]


@pytest.mark.parametrize(
    ("metadata", "names"),
    [
        ('{"a": ' * 5000 + "1" + "}" * 5000, ""),  # nesting past the JSON parser's depth
        ('{"tag": "\\udc00"}', "surrogate"),
        ('{"score": NaN}', "NaN"),
    ],
)
def test_hostile_metadata_is_refused_and_nothing_is_stored(
    client: httpx.Client, metadata: str, names: str
) -> None:
    before = client.get("/api/sessions", params={"limit": 100}).json()["items"]
    response = client.post(
        "/api/sessions",
        content='{"metadata": ' + metadata + "}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text
    assert names in response.json()["detail"]
    assert client.get("/api/sessions", params={"limit": 100}).json()["items"] == before


def test_a_nul_character_is_refused_by_name_and_nothing_is_stored(client: httpx.Client) -> None:
    """No text column of PostgreSQL can hold U+0000: refused on both databases alike."""
    session_id = new_session(client)
    sent = client.post("/api/chat", json={"session_id": session_id, "message": "a\u0000b"})
    created = client.post("/api/sessions", json={"system_prompt": "ab\u0000"})
    for response, field, where in ((sent, "message", 1), (created, "system_prompt", 2)):
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert f"NUL character (U+0000) at character {where}" in detail
        assert field in detail
    assert history(client, session_id) == []


def test_a_nul_in_a_models_reply_is_stored_as_the_replacement_character(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"reply": "a\u0000b"}, {"reply": "c\u0000d"})
    whole = chat(client, message="nul please")
    assert whole["content"] == "a\ufffdb"
    streamed = read_stream(client, "POST", "/api/chat/stream", json={"message": "again"})
    assert streamed.text == "c\ufffdd"
    stored = history(client, streamed.events[0]["session_id"])
    assert stored[-1]["content"] == "c\ufffdd"


def test_moderately_deep_metadata_round_trips(client: httpx.Client) -> None:
    deep: dict[str, Any] = {"leaf": "ok"}
    for level in range(200):
        deep = {f"l{level}": deep, "n": [level, -(2**53), 1.5e300]}
    created = client.post("/api/sessions", json={"metadata": deep})
    assert created.status_code == 201, created.text
    session_id = created.json()["session_id"]
    assert client.get(f"/api/sessions/{session_id}").json()["metadata"] == deep


@pytest.mark.parametrize("text", EXACT_TEXTS)
def test_text_of_any_script_is_stored_and_returned_byte_exact(
    client: httpx.Client, app: App, text: str
) -> None:
    session_id = new_session(client, system_prompt=text, metadata={"note": text})
    reply = chat(client, session_id=session_id, message=text)
    assert reply["content"] == f"Echo: {text}"
    stored = history(client, session_id)
    assert [m["content"] for m in stored] == [text, f"Echo: {text}"]
    session = client.get(f"/api/sessions/{session_id}").json()
    assert (session["system_prompt"], session["metadata"]["note"]) == (text, text)
    # the stored bytes: SQLite's as they are, PostgreSQL's (UTF8 database) converted
    column = "convert_to(content, 'UTF8')" if app.on_postgres else "content"
    with app.db() as db:
        if isinstance(db, sqlite3.Connection):
            db.text_factory = bytes
        raw = db.execute(
            f"SELECT {column} FROM messages WHERE session_id = ? ORDER BY seq", (session_id,)
        ).fetchall()
    assert bytes(raw[0][0]) == text.encode("utf-8")  # the very bytes, not an escaped form


@pytest.mark.parametrize(
    "url",
    ["/api/profiles?tag=a%00b", "/api/sessions?cursor=%00", "/api/sessions/a%00b/messages"],
)
def test_a_nul_in_the_url_is_refused_by_name_on_both_databases(
    client: httpx.Client, url: str
) -> None:
    """PostgreSQL would refuse the statement; the answer is the same 422 on SQLite."""
    response = client.get(url)
    assert response.status_code == 422, response.text
    assert "NUL character (%00)" in response.json()["detail"]
    assert response.json()["request_id"]


def test_the_schema_says_no_parameter_holds_a_nul(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    tag = next(
        p for p in schema["paths"]["/api/profiles"]["get"]["parameters"] if p["name"] == "tag"
    )
    strings = tag["schema"]["anyOf"] if "anyOf" in tag["schema"] else [tag["schema"]]
    assert {s.get("pattern") for s in strings if s.get("type") == "string"} == {"^[^\\u0000]*$"}
