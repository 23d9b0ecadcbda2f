"""Branching turns over real HTTP against the fake LLM (issue 17): regenerate a reply,
edit a user message, continue from an older message; each stores a new version
beside the old ones, makes it the active path, and sends the LLM the window of that
path (checked in the fake LLM's recorded request)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import FakeLLM
from tests.helpers import chat, history, new_session, read_stream, stream_chat, streaming_turn


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["message_id"] for m in messages]


def sent(fake_llm: FakeLLM) -> list[str]:
    """The contents of the messages the LLM was last sent."""
    return [m["content"] for m in fake_llm.last_body()["messages"]]


def two_turns(client: httpx.Client) -> tuple[str, list[str]]:
    session_id = new_session(client)
    chat(client, session_id=session_id, message="one")
    chat(client, session_id=session_id, message="two")
    return session_id, ids(history(client, session_id))


def regenerate(client: httpx.Client, message_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/messages/{message_id}/regenerate", json=body or None)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_regenerate_three_times_then_select_each_version_and_continue_it(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, (u1, a1, u2, a2) = two_turns(client)
    fake_llm.script({"reply": "second"}, {"reply": "third"}, {"reply": "fourth"})
    versions = [a2]
    for number in range(1, 4):
        reply = regenerate(client, a2)
        assert (reply["session_id"], reply["user_message_id"]) == (session_id, u2)
        assert sent(fake_llm) == ["one", "Echo: one", "two"]  # never an older version
        stored = history(client, session_id)
        assert ids(stored) == [u1, a1, u2, reply["message_id"]]  # active from its start
        assert (stored[-1]["sibling_index"], stored[-1]["sibling_count"]) == (number, number + 1)
        assert stored[-1]["parent_id"] == u2
        versions.append(reply["message_id"])
    contents = ["Echo: two", "second", "third", "fourth"]
    assert [m["content"] for m in history(client, session_id)][-1] == "fourth"

    for index, version in enumerate(versions):
        session = client.post(f"/api/messages/{version}/select").json()
        assert session["active_leaf_id"] == version
        stored = history(client, session_id)
        assert ids(stored) == [u1, a1, u2, version]
        assert (stored[-1]["sibling_index"], stored[-1]["sibling_count"]) == (index, 4)
        chat(client, session_id=session_id, message=f"after {index}")
        assert sent(fake_llm) == ["one", "Echo: one", "two", contents[index], f"after {index}"]
        assert history(client, session_id)[-2]["parent_id"] == version
    tree = client.get(f"/api/sessions/{session_id}/tree").json()["items"]
    assert len(tree) == 4 + 3 + 4 * 2  # nothing was ever deleted
    assert client.get(f"/api/sessions/{session_id}").json()["message_count"] == len(tree)


def test_regenerate_takes_sampling_fields_and_a_user_message(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, (_u1, _a1, u2, a2) = two_turns(client)
    reply = regenerate(client, a2, temperature=1.3, max_new_tokens=17, stop="x")
    body = fake_llm.last_body()
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (1.3, 17, ["x"])
    # a user message: one more reply to it, beside the others
    again = regenerate(client, u2)
    assert again["user_message_id"] == u2
    assert history(client, session_id)[-1]["sibling_count"] == 3
    assert reply["message_id"] != again["message_id"]


def test_regenerate_refuses_what_it_cannot_do(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id, (u1, a1, u2, a2) = two_turns(client)
    url = f"/api/messages/{a2}/regenerate"
    cases = [
        (client.post("/api/messages/no-such/regenerate"), 404, "message_not_found"),
        (client.post(url, json={"temperature": 5}), 422, "validation_error"),
        (client.post(url, json={"message": "hi"}), 422, "validation_error"),
        (client.post(url, content="x", headers={"content-type": "text/plain"}), 415, None),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert code is None or response.json()["code"] == code
        assert "Traceback" not in response.text
    assert ids(history(client, session_id)) == [u1, a1, u2, a2]  # nothing stored


def test_regenerate_stream_sends_the_chat_events_and_keys_repeat_the_original(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, (_u1, _a1, u2, a2) = two_turns(client)
    fake_llm.script({"reply": "a new answer"})
    url = f"/api/messages/{a2}/regenerate/stream"
    key = {"Idempotency-Key": "regen-1"}
    first = read_stream(client, "POST", url, headers=key)
    assert first.types == ["start", "delta", "delta", "delta", "done"]
    assert first.text == "a new answer"
    start = first.events[0]
    assert (start["session_id"], start["user_message_id"]) == (session_id, u2)
    again = read_stream(client, "POST", url, headers=key)  # a retry: the same turn
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (again.events[0]["message_id"], again.text) == (start["message_id"], "a new answer")
    reused = client.post(url, json={"temperature": 0.1}, headers=key)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")

    whole_key = {"Idempotency-Key": "regen-2"}
    whole = client.post(f"/api/messages/{a2}/regenerate", headers=whole_key)
    repeat = client.post(f"/api/messages/{a2}/regenerate", headers=whole_key)
    assert repeat.headers.get("Idempotent-Replayed") == "true"
    assert repeat.json() == whole.json()
    tree = client.get(f"/api/sessions/{session_id}/tree").json()["items"]
    assert [n["message_id"] for n in tree if n["parent_id"] == u2] == [
        a2,
        start["message_id"],
        whole.json()["message_id"],
    ]


def test_one_generation_per_session_holds_for_regenerate_and_branches(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, (_u1, a1, u2, a2) = two_turns(client)
    fake_llm.script({"reply": "a b c d e f", "chunk_delay": 0.1})
    with streaming_turn(client, session_id, deltas=1) as (start, events):
        refused = [
            client.post(f"/api/messages/{a2}/regenerate"),
            client.post(f"/api/messages/{a2}/regenerate/stream"),
            client.post(
                "/api/chat", json={"session_id": session_id, "message": "x", "parent_id": a1}
            ),
            client.post(
                "/api/chat", json={"session_id": session_id, "message": "x", "edit_of": u2}
            ),
            # continuing from the reply still being generated
            client.post(
                "/api/chat",
                json={"session_id": session_id, "message": "x", "parent_id": start["message_id"]},
            ),
        ]
        for response in refused:
            assert response.status_code == 409, response.text
            assert response.json()["message_id"] == start["message_id"]
        list(events)
    assert len(client.get(f"/api/sessions/{session_id}/tree").json()["items"]) == 6


def test_edit_the_first_user_message(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id, (u1, a1, u2, a2) = two_turns(client)
    reply = chat(client, session_id=session_id, message="uno", edit_of=u1)
    assert sent(fake_llm) == ["uno"]  # nothing above a first message
    stored = history(client, session_id)
    assert ids(stored) == [reply["user_message_id"], reply["message_id"]]
    assert (stored[0]["parent_id"], stored[0]["sibling_index"], stored[0]["sibling_count"]) == (
        None,
        1,
        2,
    )
    # the version edited is kept: selecting it brings back its whole conversation
    client.post(f"/api/messages/{u1}/select")
    assert ids(history(client, session_id)) == [u1, a1, u2, a2]


def test_edit_a_middle_user_message(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id, (u1, a1, u2, a2) = two_turns(client)
    chat(client, session_id=session_id, message="three")
    u3, a3 = ids(history(client, session_id))[-2:]
    reply = chat(client, session_id=session_id, message="dos", edit_of=u2)
    assert sent(fake_llm) == ["one", "Echo: one", "dos"]
    stored = history(client, session_id)
    assert ids(stored) == [u1, a1, reply["user_message_id"], reply["message_id"]]
    assert stored[2]["parent_id"] == a1
    chat(client, session_id=session_id, message="four")  # the edited branch goes on
    assert sent(fake_llm) == ["one", "Echo: one", "dos", "Echo: dos", "four"]
    session = client.post(f"/api/messages/{u2}/select").json()  # back: down to a3
    assert session["active_leaf_id"] == a3
    assert ids(history(client, session_id)) == [u1, a1, u2, a2, u3, a3]


def test_branch_with_parent_id_from_an_old_reply(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id, (u1, a1, _u2, a2) = two_turns(client)
    reply = chat(client, session_id=session_id, message="another way", parent_id=a1)
    assert sent(fake_llm) == ["one", "Echo: one", "another way"]
    stored = history(client, session_id)
    assert ids(stored) == [u1, a1, reply["user_message_id"], reply["message_id"]]
    assert (stored[2]["parent_id"], stored[2]["sibling_index"], stored[2]["sibling_count"]) == (
        a1,
        1,
        2,
    )
    # the stream routes take the same fields
    streamed = stream_chat(client, {"session_id": session_id, "message": "again", "parent_id": a2})
    assert streamed.last["type"] == "done"
    assert sent(fake_llm) == ["one", "Echo: one", "two", "Echo: two", "again"]
    query = {"session_id": session_id, "message": "uno", "edit_of": u1}
    got = read_stream(client, "GET", "/api/chat/stream", params=query)
    assert got.last["type"] == "done"
    assert sent(fake_llm) == ["uno"]


def test_branch_points_that_are_not_the_sessions_are_refused(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, (u1, a1, u2, a2) = two_turns(client)
    elsewhere = chat(client, message="elsewhere")
    base = {"session_id": session_id, "message": "x"}
    cases = [
        ({"parent_id": elsewhere["message_id"]}, "invalid_parent"),
        ({"parent_id": "no-such-message"}, "invalid_parent"),
        ({"edit_of": a1}, "invalid_edit_of"),  # a reply is not a user message
        ({"edit_of": elsewhere["user_message_id"]}, "invalid_edit_of"),
        ({"edit_of": u1, "parent_id": a1}, "validation_error"),
    ]
    for fields, code in cases:
        response = client.post("/api/chat", json=base | fields)
        assert (response.status_code, response.json()["code"]) == (422, code), fields
    no_session = client.post("/api/chat", json={"message": "x", "parent_id": a1})
    assert (no_session.status_code, no_session.json()["code"]) == (422, "validation_error")
    assert "session_id" in no_session.json()["detail"]
    assert ids(history(client, session_id)) == [u1, a1, u2, a2]
    session = client.get(f"/api/sessions/{session_id}").json()
    assert (session["message_count"], session["active_leaf_id"]) == (4, a2)
