"""POST /api/sessions/{id}/fork (issue 17): a new session whose history is a copy of
one path of another, with new ids, its system prompt and metadata, and where it came
from; the two are independent from then on."""

from __future__ import annotations

import httpx

from models.tools import TOOL_EXAMPLE
from tests.conftest import FakeLLM
from tests.helpers import chat, history, new_session, streaming_turn
from tests.test_branching import ids, sent


def test_fork_copies_the_path_to_a_message_into_a_new_session(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    source = new_session(client, metadata={"project": "x"}, system_prompt="Be brief.")
    chat(client, session_id=source, message="one")
    chat(client, session_id=source, message="two")
    u1, a1, u2, a2 = ids(history(client, source))
    fake_llm.script({"reply": "another two"})
    other = client.post(f"/api/messages/{a2}/regenerate").json()["message_id"]
    client.post(f"/api/messages/{a2}/select")  # fork a version that is not the active one

    response = client.post(f"/api/sessions/{source}/fork", json={"message_id": other})
    assert response.status_code == 201, response.text
    fork = response.json()
    assert fork["session_id"] != source
    assert fork["forked_from"] == {"session_id": source, "message_id": other}
    assert (fork["metadata"], fork["system_prompt"], fork["message_count"]) == (
        {"project": "x"},
        "Be brief.",
        4,
    )
    copied = history(client, fork["session_id"])
    assert [(m["role"], m["content"], m["status"]) for m in copied] == [
        ("user", "one", "complete"),
        ("assistant", "Echo: one", "complete"),
        ("user", "two", "complete"),
        ("assistant", "another two", "complete"),
    ]
    assert not set(ids(copied)) & {u1, a1, u2, a2, other}  # new ids
    assert [m["parent_id"] for m in copied] == [None, *ids(copied)[:-1]]
    assert fork["active_leaf_id"] == copied[-1]["message_id"]
    assert [m["sibling_count"] for m in copied] == [1, 1, 1, 1]  # one chain
    assert client.get(f"/api/sessions/{fork['session_id']}").json()["forked_from"] is not None
    plan = client.get(f"/api/messages/{copied[-1]['message_id']}/context").json()
    assert [p["id"] for p in plan["parts"][1:]] == ids(copied)[:3]  # the copies, not u1 a1 u2

    chat(client, session_id=fork["session_id"], message="three")
    assert sent(fake_llm) == ["Be brief.", "one", "Echo: one", "two", "another two", "three"]
    assert ids(history(client, source)) == [u1, a1, u2, a2]  # the source is untouched
    assert client.delete(f"/api/sessions/{source}").status_code == 204
    assert len(history(client, fork["session_id"])) == 6  # the fork keeps its copy


def test_fork_at_a_middle_message_and_with_an_idempotency_key(client: httpx.Client) -> None:
    source = new_session(client)
    chat(client, session_id=source, message="one")
    chat(client, session_id=source, message="two")
    u1 = ids(history(client, source))[0]
    key = {"Idempotency-Key": "fork-1"}
    url = f"/api/sessions/{source}/fork"
    first = client.post(url, json={"message_id": u1}, headers=key)
    again = client.post(url, json={"message_id": u1}, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    copied = history(client, first.json()["session_id"])
    assert [(m["role"], m["content"]) for m in copied] == [("user", "one")]
    assert first.json()["forked_from"]["message_id"] == u1
    reused = client.post(url, json={"message_id": ids(history(client, source))[1]}, headers=key)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    elsewhere = f"/api/sessions/{new_session(client)}/fork"  # same body, another session
    reused = client.post(elsewhere, json={"message_id": u1}, headers=key)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")


def test_fork_refuses_what_is_not_the_sessions_or_still_generating(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    source = new_session(client)
    elsewhere = chat(client, message="elsewhere")["message_id"]
    url = f"/api/sessions/{source}/fork"
    cases = [
        (client.post(url, json={"message_id": elsewhere}), 422, "invalid_message_id"),
        (client.post(url, json={}), 422, "validation_error"),
        (client.post(url, json={"message_id": "x", "more": 1}), 422, "validation_error"),
        (client.post("/api/sessions/no-such/fork", json={"message_id": "x"}), 404, None),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert code is None or response.json()["code"] == code
    fake_llm.script({"reply": "a b c d e f", "chunk_delay": 0.1})
    with streaming_turn(client, source, deltas=1) as (start, events):
        busy = client.post(url, json={"message_id": start["message_id"]})
        assert (busy.status_code, busy.json()["code"]) == (409, "turn_in_progress")
        # the user message above it has ended: it can be forked already
        assert client.post(url, json={"message_id": start["user_message_id"]}).status_code == 201
        list(events)
    before = client.get("/api/sessions", params={"limit": 100}).json()["items"]
    assert sum(1 for s in before if (s["forked_from"] or {}).get("session_id") == source) == 1


def test_a_fork_keeps_tool_calls_and_results_and_goes_on_from_them(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    calls = [{"id": "call_f", "name": "lookup", "arguments": '{"q": "fork"}'}]
    fake_llm.script({"reply": "", "tool_calls": calls})
    chat(client, session_id=session_id, message="look it up", tools=[TOOL_EXAMPLE])
    results = [{"tool_call_id": "call_f", "content": "found it"}]
    answer = chat(client, session_id=session_id, tool_results=results)
    forked = client.post(
        f"/api/sessions/{session_id}/fork", json={"message_id": answer["message_id"]}
    )
    assert forked.status_code == 201, forked.text
    copy = history(client, forked.json()["session_id"])
    original = history(client, session_id)
    assert [m["tool_calls"] for m in copy] == [m["tool_calls"] for m in original]
    assert [m["tool_results"] for m in copy] == [m["tool_results"] for m in original]
    assert [m["model"] for m in copy] == [m["model"] for m in original]
    chat(client, session_id=forked.json()["session_id"], message="and then?")
    sent = fake_llm.last_body()["messages"]
    assert [m["role"] for m in sent[-4:]] == ["assistant", "tool", "assistant", "user"]
    assert sent[-3] == {"role": "tool", "tool_call_id": "call_f", "content": "found it"}
