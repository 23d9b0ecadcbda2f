"""Resume: a client that lost its stream re-attaches with Last-Event-ID (or ?after)
and gets every later event exactly once, from this process's live turn, from the
stored text of a finished one, or by following checkpoints of another process's."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource

from tests.conftest import App, FakeLLM
from tests.helpers import StreamResult, history, new_session, read_stream, wait_for

WORDS = [f"w{n} " for n in range(40)]
FULL_TEXT = "".join(WORDS)


def read_then_drop(
    http: httpx.Client, body: dict[str, Any] | None, events: int, url: str = "/api/chat/stream"
) -> StreamResult:
    """A client that reads `events` events of a new stream and loses its connection."""
    with http.stream("POST", url, json=body) as response:
        result = StreamResult(response.status_code, response.headers)
        for sse in EventSource(response).iter_sse():
            result.events.append(json.loads(sse.data))
            result.ids.append(int(sse.id))
            if len(result.events) == events:
                break
    return result


def resume(http: httpx.Client, message_id: str, last_id: int) -> StreamResult:
    headers = {"Last-Event-ID": str(last_id)}
    return read_stream(http, "GET", f"/api/messages/{message_id}/stream", headers=headers)


def assert_seamless(before: StreamResult, after: StreamResult, stored: str) -> None:
    """Together the two connections carry the whole reply once, ids in order."""
    assert before.text + after.text == stored
    ids = before.ids + after.ids
    assert ids == sorted(set(ids)), ids
    assert after.types[-1] == "done"


def message_id_of(result: StreamResult) -> str:
    return str(result.events[0]["message_id"])


@pytest.mark.parametrize("dropped_after", [1, 2, 7, 23, 41])
def test_resume_while_the_turn_is_live_gets_the_rest_exactly_once(
    client: httpx.Client, fake_llm: FakeLLM, dropped_after: int
) -> None:
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.01})
    before = read_then_drop(client, {"message": "x"}, events=dropped_after)
    after = resume(client, message_id_of(before), before.ids[-1])
    assert_seamless(before, after, FULL_TEXT)
    assert history(client, before.events[0]["session_id"])[-1]["content"] == FULL_TEXT


@pytest.mark.parametrize("dropped_after", [1, 3, 30])
def test_resume_after_the_turn_ended_replays_the_stored_text(
    client: httpx.Client, fake_llm: FakeLLM, dropped_after: int
) -> None:
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.005})
    before = read_then_drop(client, {"message": "x"}, events=dropped_after)
    session_id = before.events[0]["session_id"]
    wait_for(lambda: history(client, session_id)[-1]["status"] == "complete")
    after = resume(client, message_id_of(before), before.ids[-1])
    assert_seamless(before, after, FULL_TEXT)
    assert len(after.types) <= 2  # the stored rest may come as one delta, then done
    assert after.last["finish_reason"] == "stop"


def test_replay_from_the_start_and_with_after_parameter(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"chunks": ["a", "b", "c"]})
    session_id = new_session(client)
    turn = read_stream(
        client, "POST", "/api/chat/stream", json={"session_id": session_id, "message": "x"}
    )
    message_id = turn.last["message_id"]
    url = f"/api/messages/{message_id}/stream"
    whole = read_stream(client, "GET", url)
    assert whole.types == ["start", "delta", "done"]
    assert whole.events[0] == turn.events[0]
    assert whole.text == "abc"
    assert whole.ids == [1, 4, 5]  # the coalesced delta carries the last delta's id
    assert whole.last == turn.last
    tail = read_stream(client, "GET", url, params={"after": 2})
    assert (tail.text, tail.ids) == ("bc", [4, 5])
    nothing_left = client.get(url, headers={"Last-Event-ID": "5"})
    assert nothing_left.status_code == 204


def test_resume_refuses_unknown_messages_and_bad_ids(client: httpx.Client) -> None:
    reply = client.post("/api/chat", json={"message": "hi"}).json()
    for message_id in ("no-such-message", reply["user_message_id"]):
        response = client.get(f"/api/messages/{message_id}/stream")
        assert response.status_code == 404
        assert response.json()["code"] == "message_not_found"
    url = f"/api/messages/{reply['message_id']}/stream"
    bad = client.get(url, headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 422
    assert "Last-Event-ID" in bad.json()["detail"]
    # an empty Last-Event-ID means none (the SSE standard): the whole reply again
    assert read_stream(client, "GET", url, headers={"Last-Event-ID": ""}).types[0] == "start"
    assert client.get(url, params={"after": -1}).status_code == 422


def test_another_process_follows_a_live_turn_from_its_checkpoints(
    client: httpx.Client, fake_llm: FakeLLM, second_process: App
) -> None:
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.04})
    before = read_then_drop(client, {"message": "x"}, events=4)
    with second_process.client() as elsewhere:
        after = resume(elsewhere, message_id_of(before), before.ids[-1])
    assert_seamless(before, after, FULL_TEXT)
    assert after.types.count("delta") >= 2  # followed live, not only read at the end


def test_eventsource_get_streams_a_turn_like_post(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id = new_session(client)
    fake_llm.script({"chunks": ["Hel", "lo"]})
    params = {"session_id": session_id, "message": "hi", "max_new_tokens": 7, "stop": "END"}
    result = read_stream(client, "GET", "/api/chat/stream", params=params)
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/event-stream")
    assert result.types == ["start", "delta", "delta", "done"]
    assert result.text == "Hello"
    sent = fake_llm.last_body()
    assert (sent["max_tokens"], sent["stop"], sent["messages"][-1]["content"]) == (7, ["END"], "hi")
    assert [m["content"] for m in history(client, session_id)] == ["hi", "Hello"]


def test_eventsource_reconnect_resumes_instead_of_sending_again(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.01})
    params = {"session_id": session_id, "message": "once"}
    with client.stream("GET", "/api/chat/stream", params=params) as response:
        before = StreamResult(response.status_code, response.headers)
        for sse in EventSource(response).iter_sse():
            before.events.append(json.loads(sse.data))
            before.ids.append(int(sse.id))
            if len(before.events) == 6:
                break
    reconnect = {"Last-Event-ID": str(before.ids[-1])}
    after = read_stream(client, "GET", "/api/chat/stream", params=params, headers=reconnect)
    assert_seamless(before, after, FULL_TEXT)
    assert [m["content"] for m in history(client, session_id)] == ["once", FULL_TEXT]
    finished = {"Last-Event-ID": str(after.ids[-1])}
    again = client.get("/api/chat/stream", params=params, headers=finished)
    assert again.status_code == 204  # EventSource stops reconnecting
    assert len(history(client, session_id)) == 2


def test_eventsource_reconnect_without_session_is_204_and_stores_nothing(
    client: httpx.Client, app: App
) -> None:
    with app.db() as db:
        before = db.execute("SELECT count(*) FROM messages").fetchone()
    response = client.get(
        "/api/chat/stream", params={"message": "hi"}, headers={"Last-Event-ID": "3"}
    )
    assert response.status_code == 204
    with app.db() as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone() == before
    missing = client.get("/api/chat/stream", params={"session_id": "x"})
    assert missing.status_code == 422
    assert "message" in missing.json()["detail"]
