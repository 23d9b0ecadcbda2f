"""Whole-reply turns: storage, parameters, the context window and token usage."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.dialects import sqlite

from services.tree import path_page_query, window_query
from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, new_session

REPLY_FIELDS = {
    "session_id",
    "user_message_id",
    "message_id",
    "role",
    "content",
    "created_at",
    "finish_reason",
    "token_usage",
    "tool_calls",
    "prompt_tokens",
    "model",
}


def test_chat_without_session_creates_one_and_stores_both_messages(
    client: httpx.Client,
) -> None:
    reply = chat(client, message="Hello!")
    assert set(reply) == REPLY_FIELDS
    assert reply["role"] == "assistant"
    assert reply["content"] == "Echo: Hello!"
    assert reply["finish_reason"] == "stop"
    assert uuid.UUID(reply["session_id"]).version == 4
    items = history(client, reply["session_id"])
    assert [(m["message_id"], m["role"]) for m in items] == [
        (reply["user_message_id"], "user"),
        (reply["message_id"], "assistant"),
    ]
    assert items[1]["token_usage"] == reply["token_usage"]


def test_chat_in_existing_session_sends_history_and_updates_last_accessed(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    before = client.get(f"/api/sessions/{session_id}").json()["last_accessed"]
    chat(client, session_id=session_id, message="first")
    chat(client, session_id=session_id, message="second")
    assert fake_llm.last_body()["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Echo: first"},
        {"role": "user", "content": "second"},
    ]
    session = client.get(f"/api/sessions/{session_id}").json()
    assert session["last_accessed"] > before
    assert session["message_count"] == 4


def test_server_usage_is_stored_as_reported(client: httpx.Client, fake_llm: FakeLLM) -> None:
    reply = chat(client, message="count these words")
    # the fake counts words: prompt 3 + 4 framing + 3 + 11 (no system message), reply
    # "Echo: count these words" 4
    assert reply["token_usage"] == {
        "prompt_tokens": 21,
        "completion_tokens": 4,
        "total_tokens": 25,
        "estimated": False,
    }


def test_usage_is_estimated_and_marked_when_server_gives_none(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"reply": "x" * 40, "usage": False})
    usage = chat(client, message="y" * 40)["token_usage"]
    assert usage["estimated"] is True
    assert usage["completion_tokens"] == 14  # 40 letters / 3, rounded up
    assert usage["prompt_tokens"] == 51  # 14 + 5 for the message + 32 for the prompt
    assert usage["total_tokens"] == 65


def test_generation_parameters_reach_the_llm(client: httpx.Client, fake_llm: FakeLLM) -> None:
    chat(
        client,
        message="params",
        max_new_tokens=33,
        temperature=1.3,
        top_p=0.9,
        stop=["END", "STOP"],
    )
    body = fake_llm.last_body()
    assert body["model"] == "fake-model"  # first id of /v1/models
    assert body["max_tokens"] == 33
    assert body["temperature"] == 1.3
    assert body["top_p"] == 0.9
    assert body["stop"] == ["END", "STOP"]
    # whole replies are streamed from upstream too, so that a stop can end them
    assert body["stream"] is True


def test_defaults_are_sent_when_parameters_are_omitted(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    chat(client, message="defaults", stop="ONE")
    body = fake_llm.last_body()
    assert body["max_tokens"] == 256
    assert body["temperature"] == 0.7
    assert "top_p" not in body
    assert body["stop"] == ["ONE"]


def test_do_sample_false_means_greedy(client: httpx.Client, fake_llm: FakeLLM) -> None:
    chat(client, message="greedy", do_sample=False, temperature=1.5)
    assert fake_llm.last_body()["temperature"] == 0.0


def test_configured_model_and_api_key_are_sent(make_app, fake_llm: FakeLLM) -> None:
    app = make_app(llm_model="my-model", llm_api_key="sk-test")
    with app.client() as http:
        chat(http, message="hi")
    request = fake_llm.requests()[-1]
    assert request["body"]["model"] == "my-model"
    assert request["authorization"] == "Bearer sk-test"


def test_session_system_prompt_comes_first(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id = new_session(client, system_prompt="You are terse.")
    chat(client, session_id=session_id, message="hi")
    assert fake_llm.last_body()["messages"][0] == {"role": "system", "content": "You are terse."}


def test_default_system_prompt_applies_unless_session_has_one(make_app, fake_llm: FakeLLM) -> None:
    app = make_app(default_system_prompt="Default persona.")
    with app.client() as http:
        chat(http, message="hi")
        assert fake_llm.last_body()["messages"][0]["content"] == "Default persona."
        session_id = new_session(http, system_prompt="Own persona.")
        chat(http, session_id=session_id, message="hi")
        assert fake_llm.last_body()["messages"][0]["content"] == "Own persona."


def test_window_keeps_newest_max_context_messages(make_app, fake_llm: FakeLLM) -> None:
    app = make_app(max_context_messages=3)
    with app.client() as http:
        session_id = new_session(http, system_prompt="sys")
        for n in range(4):
            chat(http, session_id=session_id, message=f"m{n}")
    assert fake_llm.last_body()["messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "m2"},
        {"role": "assistant", "content": "Echo: m2"},
        {"role": "user", "content": "m3"},
    ]


def test_window_respects_token_cap_but_always_sends_new_message(
    make_app, fake_llm: FakeLLM
) -> None:
    app = make_app(max_context_tokens=38, max_context_messages=50)
    with app.client() as http:
        session_id = new_session(http)
        for n in range(5):
            fake_llm.script({"reply": f"r{n}"})
            chat(http, session_id=session_id, message="w" * 16 + str(n))  # 12 tokens each
        # cap 38: new message 12, then newest-first r3 (7), w3 (12), r2 (7); w2 would not fit
        sent = [m["content"] for m in fake_llm.last_body()["messages"]]
        assert sent == ["r2", "w" * 16 + "3", "r3", "w" * 16 + "4"]
        huge = "z" * 400  # alone it is over the cap: still sent, history dropped
        chat(http, session_id=session_id, message=huge)
        assert fake_llm.last_body()["messages"] == [{"role": "user", "content": huge}]


def test_failed_and_empty_assistant_messages_are_never_sent(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    chat(client, session_id=session_id, message="a")
    fake_llm.script(*[{"status": 500}] * 3)
    failed = client.post("/api/chat", json={"session_id": session_id, "message": "b"})
    assert failed.status_code == 502
    fake_llm.script({"reply": ""})
    empty = client.post("/api/chat", json={"session_id": session_id, "message": "c"})
    assert empty.json()["code"] == "llm_empty_reply"
    chat(client, session_id=session_id, message="d")
    assert fake_llm.last_body()["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "Echo: a"},
        {"role": "user", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "user", "content": "d"},
    ]
    statuses = [(m["role"], m["status"]) for m in history(client, session_id)]
    assert statuses[3] == ("assistant", "failed")


@pytest.mark.sqlite_only("SQLite's query plan; PostgreSQL's are in test_query_plans.py")
@pytest.mark.parametrize("query", [window_query("m", 9), path_page_query("m", 50)])
def test_turn_and_history_read_only_their_path_not_the_session(
    app: App, fake_llm: FakeLLM, query: Any
) -> None:
    """The window and a history page walk up the tree one primary-key lookup per
    message: never a scan of the messages, never a sort."""
    with app.client() as http:
        chat(http, message="make sure tables exist")
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with app.db() as db:
        plan = db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    detail = " | ".join(row[-1] for row in plan)
    assert "SEARCH messages USING INDEX sqlite_autoindex_messages_1 (message_id=?)" in detail
    assert "SCAN messages" not in detail, detail
    assert "TEMP B-TREE" not in detail, detail


def test_history_survives_a_restart(make_app) -> None:
    app = make_app()
    with app.client() as http:
        reply = chat(http, message="remember me")
    app.restart()
    with app.client() as http:
        items = history(http, reply["session_id"])
        assert [m["content"] for m in items] == ["remember me", "Echo: remember me"]
        chat(http, session_id=reply["session_id"], message="still here?")
        assert len(history(http, reply["session_id"])) == 4
