"""WebSocket /ws/{session_id}: chat, stop, status and ping over one real connection."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.conftest import App, FakeLLM
from tests.helpers import history, new_session, wait_for

WORDS = [f"w{n} " for n in range(40)]


class Socket:
    """A client of the chat socket that reads one JSON message at a time."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    def send(self, **message: Any) -> None:
        self.connection.send(json.dumps(message))

    def receive(self) -> dict[str, Any]:
        message = json.loads(self.connection.recv(timeout=10))
        datetime.fromisoformat(message["timestamp"])  # every message is timestamped
        return dict(message)

    def until(self, *types: str) -> list[dict[str, Any]]:
        """Messages up to and including the first of one of `types`."""
        received = [self.receive()]
        while received[-1]["type"] not in types:
            received.append(self.receive())
        return received


@pytest.fixture
def socket_for(app: App) -> Iterator[Any]:
    with ExitStack() as opened:

        def open_socket(session_id: str) -> Socket:
            url = f"ws://127.0.0.1:{app.port}/ws/{session_id}"
            return Socket(opened.enter_context(connect(url)))

        yield open_socket


def text_of(messages: list[dict[str, Any]]) -> str:
    return "".join(m["data"]["content"] for m in messages if m["type"] == "delta")


def test_chat_over_a_websocket(client: httpx.Client, fake_llm: FakeLLM, socket_for) -> None:
    session_id = new_session(client)
    socket = socket_for(session_id)
    hello = socket.receive()
    assert (hello["type"], hello["data"]["active"], hello["data"]["status"]) == (
        "status",
        False,
        "idle",
    )
    socket.send(type="ping")
    assert socket.receive()["type"] == "pong"
    fake_llm.script({"chunks": ["Hi", " there"]})
    socket.send(type="chat", message="hello", max_new_tokens=9)
    turn = socket.until("done", "error")
    assert [m["type"] for m in turn] == ["start", "delta", "delta", "done"]
    assert [m["id"] for m in turn] == [1, 2, 3, 4]
    assert text_of(turn) == "Hi there"
    assert turn[-1]["data"]["finish_reason"] == "stop"
    assert fake_llm.last_body()["max_tokens"] == 9
    socket.send(type="chat", message="and again")  # several turns, one connection
    assert text_of(socket.until("done")) == "Echo: and again"
    assert [m["content"] for m in history(client, session_id)][-2:] == [
        "and again",
        "Echo: and again",
    ]


def test_stop_over_a_websocket_and_turn_in_progress(
    client: httpx.Client, fake_llm: FakeLLM, socket_for
) -> None:
    session_id = new_session(client)
    socket = socket_for(session_id)
    socket.receive()
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.05})
    socket.send(type="chat", message="long")
    socket.until("delta")
    socket.send(type="chat", message="too soon")
    busy = socket.until("error")[-1]["data"]
    assert busy["code"] == "turn_in_progress"
    asked_at = time.time()
    socket.send(type="stop")
    rest = socket.until("status")
    assert [m["type"] for m in rest][-2:] == ["done", "status"]  # the turn's end, then status
    assert rest[-2]["data"]["finish_reason"] == "cancelled"
    assert rest[-1]["data"]["status"] == "cancelled"
    upstream = fake_llm.requests()[-1]
    assert upstream["ended"] == "client_disconnected"
    assert upstream["closed_at"] - asked_at < 0.5
    assert history(client, session_id)[-1]["message_id"] == busy["message_id"]


def test_regenerate_and_branches_over_a_websocket(
    client: httpx.Client, fake_llm: FakeLLM, socket_for
) -> None:
    session_id = new_session(client)
    socket = socket_for(session_id)
    socket.receive()
    socket.send(type="chat", message="one")
    first = socket.until("done")
    user_id, reply_id = first[0]["data"]["user_message_id"], first[0]["data"]["message_id"]
    fake_llm.script({"chunks": ["Another", " one"]})
    socket.send(type="regenerate", message_id=reply_id, temperature=0.2)
    again = socket.until("done", "error")
    assert [m["type"] for m in again] == ["start", "delta", "delta", "done"]
    assert again[0]["data"]["user_message_id"] == user_id
    assert fake_llm.last_body()["temperature"] == 0.2
    stored = history(client, session_id)
    assert [m["content"] for m in stored] == ["one", "Another one"]
    assert (stored[-1]["sibling_index"], stored[-1]["sibling_count"]) == (1, 2)
    socket.send(type="chat", message="uno", edit_of=user_id)
    assert text_of(socket.until("done")) == "Echo: uno"
    socket.send(type="chat", message="later", parent_id=reply_id)
    assert text_of(socket.until("done")) == "Echo: later"
    assert [m["content"] for m in fake_llm.last_body()["messages"]] == ["one", "Echo: one", "later"]
    other = client.post("/api/chat", json={"message": "elsewhere"}).json()["message_id"]
    for message_id in (other, "no-such-message"):  # only this session's messages
        socket.send(type="regenerate", message_id=message_id)
        assert socket.receive()["data"]["code"] == "message_not_found"
    socket.send(type="regenerate")
    assert socket.receive()["data"]["code"] == "validation_error"


def test_bad_messages_get_errors_and_the_connection_stays(client: httpx.Client, socket_for) -> None:
    socket = socket_for(new_session(client))
    socket.receive()
    for bad in ("not json", "[1]", json.dumps({"type": "dance"})):
        socket.connection.send(bad)
        assert socket.receive()["data"]["code"] == "bad_message"
    socket.send(type="chat", message="   ")
    assert socket.receive()["data"]["code"] == "validation_error"
    socket.send(type="chat", message="hi", temperature=9)
    assert "temperature" in socket.receive()["data"]["message"]
    socket.send(type="ping")
    assert socket.receive()["type"] == "pong"


def test_unknown_session_is_an_error_then_close(socket_for) -> None:
    socket = socket_for("no-such-session")
    error = socket.receive()
    assert error["data"]["code"] == "session_not_found"
    with pytest.raises(ConnectionClosed) as closed:
        socket.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4404


@pytest.mark.parametrize(
    ("on_disconnect", "final"), [("continue", "complete"), ("cancel", "cancelled")]
)
def test_a_dropped_websocket_behaves_like_a_dropped_sse_client(
    client: httpx.Client, fake_llm: FakeLLM, socket_for, on_disconnect: str, final: str
) -> None:
    session_id = new_session(client)
    socket = socket_for(session_id)
    socket.receive()
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.03})
    socket.send(type="chat", message="x", on_disconnect=on_disconnect)
    socket.until("delta")
    socket.connection.close()

    def ended() -> dict[str, Any] | None:
        reply = history(client, session_id)[-1]
        return None if reply["status"] == "streaming" else reply

    reply = wait_for(ended, seconds=10)
    assert reply["status"] == final
    if final == "complete":
        assert reply["content"] == "".join(WORDS)


def test_tool_calls_and_results_over_a_websocket(
    client: httpx.Client, fake_llm: FakeLLM, socket_for
) -> None:
    session_id = new_session(client)
    socket = socket_for(session_id)
    socket.receive()  # status
    calls = [{"id": "call_1", "name": "lookup", "arguments": '{"q": "x"}'}]
    fake_llm.script({"reply": "", "tool_calls": calls, "arguments_chunk": 3}, {"reply": "Done."})
    tool = {"type": "function", "function": {"name": "lookup"}}
    socket.send(type="chat", message="look it up", tools=[tool])
    turn = socket.until("done", "error")
    assert [m["type"] for m in turn] == ["start", "tool_call", "done"]
    assert turn[1]["data"]["tool_call"]["function"] == {"name": "lookup", "arguments": '{"q": "x"}'}
    assert turn[-1]["data"]["finish_reason"] == "tool_calls"
    socket.send(type="chat", tool_results=[{"tool_call_id": "call_1", "content": "found"}])
    assert text_of(socket.until("done")) == "Done."
    assert [m["role"] for m in history(client, session_id)] == [
        "user",
        "assistant",
        "tool",
        "assistant",
    ]
