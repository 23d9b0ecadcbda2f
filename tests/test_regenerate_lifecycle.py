"""A regenerate is a turn like any other (issue 17): stopped, resumed, followed from
another process, its crash states stored; and its version is the active path from
its first moment, whatever happens to it."""

from __future__ import annotations

import signal
from typing import Any

import httpx
import pytest

from tests.conftest import App, FakeLLM
from tests.helpers import (
    chat,
    history,
    new_session,
    read_stream,
    streaming,
    wait_for,
    wait_until_swept,
)
from tests.test_branching import ids
from tests.test_resume import FULL_TEXT, WORDS, assert_seamless, read_then_drop, resume

SLOW = {"chunks": WORDS, "chunk_delay": 0.05}


def a_reply_to_regenerate(client: httpx.Client) -> tuple[str, str, str]:
    """(session, user message, reply) of a one-turn session."""
    reply = chat(client, session_id=new_session(client), message="one")
    return reply["session_id"], reply["user_message_id"], reply["message_id"]


def regenerate_url(message_id: str) -> str:
    return f"/api/messages/{message_id}/regenerate/stream"


def test_a_dropped_regenerate_stream_resumes_and_its_version_is_active_from_the_start(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, user_id, old = a_reply_to_regenerate(client)
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.02})
    before = read_then_drop(client, None, events=6, url=regenerate_url(old))
    new = before.events[0]["message_id"]
    # a page reloaded mid-stream: the new version, being generated, is the active path
    session = client.get(f"/api/sessions/{session_id}").json()
    assert session["active_leaf_id"] == new
    shown = history(client, session_id)
    assert (shown[-1]["message_id"], shown[-1]["sibling_index"]) == (new, 1)
    after = resume(client, new, before.ids[-1])
    assert_seamless(before, after, FULL_TEXT)
    assert ids(history(client, session_id)) == [user_id, new]
    assert history(client, session_id, leaf=old)[-1]["content"] == "Echo: one"


def test_stop_a_regenerate_keeps_its_text_and_both_versions(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, user_id, old = a_reply_to_regenerate(client)
    fake_llm.script(SLOW)
    with streaming(client, regenerate_url(old), None, deltas=1) as (start, events):
        status = client.get(f"/api/sessions/{session_id}/status").json()
        assert (status["active"], status["message_id"]) == (True, start["message_id"])
        stopped = client.post(f"/api/sessions/{session_id}/stop").json()
        rest = list(events)
    assert (stopped["stopped"], stopped["status"]) == (True, "cancelled")
    assert rest[-1]["finish_reason"] == "cancelled"
    stored = history(client, session_id)
    assert ids(stored)[0] == user_id
    assert (stored[-1]["status"], stored[-1]["message_id"]) == ("cancelled", status["message_id"])
    assert stored[-1]["content"]
    assert FULL_TEXT.startswith(stored[-1]["content"])
    assert stored[-1]["sibling_count"] == 2
    # the next turn continues the stopped version, whose text was kept
    chat(client, session_id=session_id, message="go on")
    sent = [m["content"] for m in fake_llm.last_body()["messages"]]
    assert sent == ["one", stored[-1]["content"], "go on"]


def test_a_regenerate_asked_to_cancel_on_disconnect_stops_when_the_client_leaves(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, _, old = a_reply_to_regenerate(client)
    fake_llm.script(SLOW)
    read_then_drop(client, {"on_disconnect": "cancel"}, events=3, url=regenerate_url(old))

    def ended() -> dict[str, Any] | None:
        reply = history(client, session_id)[-1]
        return None if reply["status"] == "streaming" else reply

    assert wait_for(ended, seconds=5)["status"] == "cancelled"


def test_another_process_follows_and_stops_a_regenerate(
    app: App, second_process: App, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, _, old = a_reply_to_regenerate(client)
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.02})
    before = read_then_drop(client, None, events=4, url=regenerate_url(old))
    with second_process.client() as other:
        after = resume(other, before.events[0]["message_id"], before.ids[-1])
    assert_seamless(before, after, FULL_TEXT)
    fake_llm.script(SLOW)
    with streaming(client, regenerate_url(old), None, deltas=1) as (_, events):
        with second_process.client() as other:
            stopped = other.post(f"/api/sessions/{session_id}/stop").json()
        assert stopped["stopped"] is True
        assert list(events)[-1]["finish_reason"] == "cancelled"
    assert history(client, session_id)[-1]["status"] == "cancelled"


@pytest.mark.slow
def test_kill_9_mid_regenerate_leaves_an_interrupted_version_beside_the_old_one(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app: App = make_app(checkpoint_seconds=0.05, orphan_after_seconds=1)
    with app.client() as http:
        session_id, user_id, old = a_reply_to_regenerate(http)
        fake_llm.script(SLOW)
        before = read_then_drop(http, None, events=8, url=regenerate_url(old))
        new = before.events[0]["message_id"]
    app.stop(signal.SIGKILL)
    app.start()  # the startup sweep marks the dead process's reply interrupted
    with app.client() as http:
        wait_until_swept(http, session_id)
        stored = history(http, session_id)
        assert ids(stored) == [user_id, new]  # still the active path
        assert stored[-1]["status"] == "interrupted"
        assert stored[-1]["content"].startswith(before.text[: len("w0 w1 ")])
        assert FULL_TEXT.startswith(stored[-1]["content"])
        assert history(http, session_id, leaf=old)[-1]["status"] == "complete"
        fake_llm.script({"reply": "third time"})
        again = read_stream(http, "POST", regenerate_url(new))
        assert again.text == "third time"
        assert history(http, session_id)[-1]["sibling_count"] == 3
