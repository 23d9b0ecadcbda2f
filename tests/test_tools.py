"""Tool calls on /api: tools relayed, calls stored and streamed, results sent back.

The fake LLM's tool-calling mode sends calls whole or with their arguments in
pieces, parallel calls interleaved, with or without ids: the service must hand the
client every call whole, store it with the reply, and keep each call with its result
in every later window.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from models.tools import TOOL_EXAMPLE
from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, new_session, read_stream, stream_chat

WEATHER = TOOL_EXAMPLE  # the documented example is a working tool
LISBON = '{"city": "Lisbon"}'
PORTO = '{"city": "Porto", "unit": "celsius"}'


def two_calls(**behaviour: Any) -> dict[str, Any]:
    """A reply calling get_weather twice in parallel."""
    calls = [
        {"id": "call_a", "name": "get_weather", "arguments": LISBON},
        {"id": "call_b", "name": "get_weather", "arguments": PORTO},
    ]
    return {"reply": "", "tool_calls": calls, **behaviour}


def wire_calls(*arguments: str) -> list[dict[str, Any]]:
    ids = ["call_a", "call_b"]
    return [
        {"id": ids[i], "type": "function", "function": {"name": "get_weather", "arguments": a}}
        for i, a in enumerate(arguments)
    ]


def test_tools_are_relayed_and_a_whole_reply_returns_its_calls(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script(two_calls(arguments_chunk=3))
    reply = chat(
        client,
        session_id=session_id,
        message="Weather in Lisbon and Porto?",
        tools=[WEATHER],
        tool_choice="auto",
    )
    body = fake_llm.last_body()
    assert body["tools"] == [WEATHER]
    assert body["tool_choice"] == "auto"
    assert reply["finish_reason"] == "tool_calls"
    assert reply["content"] == ""
    assert reply["tool_calls"] == wire_calls(LISBON, PORTO)
    stored = history(client, session_id)[-1]
    assert stored["tool_calls"] == wire_calls(LISBON, PORTO)
    assert stored["status"] == "complete"


def test_a_named_tool_choice_is_relayed_as_openai_spells_it(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    forced = {"type": "function", "function": {"name": "get_weather"}}
    chat(client, message="Weather?", tools=[WEATHER], tool_choice=forced)
    assert fake_llm.last_body()["tool_choice"] == forced


@pytest.mark.parametrize(
    "behaviour",
    [
        {"arguments_chunk": 0},
        {"arguments_chunk": 2},
        {"arguments_chunk": 4, "interleave": True},
    ],
    ids=["whole", "split", "interleaved"],
)
def test_a_stream_sends_each_call_whole_as_a_tool_call_event(
    client: httpx.Client, fake_llm: FakeLLM, behaviour: dict[str, Any]
) -> None:
    session_id = new_session(client)
    fake_llm.script(two_calls(**behaviour, reply="Checking."))
    result = stream_chat(
        client, {"session_id": session_id, "message": "Weather?", "tools": [WEATHER]}
    )
    assert result.types == ["start", "delta", "tool_call", "tool_call", "done"]
    assert result.ids == [1, 2, 3, 4, 5]
    calls = [event["tool_call"] for event in result.events if event["type"] == "tool_call"]
    assert calls == wire_calls(LISBON, PORTO)
    assert [e["index"] for e in result.events if e["type"] == "tool_call"] == [0, 1]
    assert result.last["finish_reason"] == "tool_calls"
    message_id = result.events[0]["message_id"]
    resumed = read_stream(client, "GET", f"/api/messages/{message_id}/stream")
    assert resumed.types == result.types
    assert resumed.ids == result.ids
    assert resumed.events[2:4] == result.events[2:4]
    after = read_stream(
        client, "GET", f"/api/messages/{message_id}/stream", headers={"Last-Event-ID": "3"}
    )
    assert after.types == ["tool_call", "done"]
    assert after.events[0]["index"] == 1
    assert after.ids == [4, 5]


def test_calls_without_ids_get_ids_the_results_can_name(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script(two_calls(no_tool_ids=True, arguments_chunk=5))
    reply = chat(client, session_id=session_id, message="Weather?", tools=[WEATHER])
    ids = [call["id"] for call in reply["tool_calls"]]
    assert len(set(ids)) == 2
    assert all(ids)
    results = [{"tool_call_id": call_id, "content": "sunny"} for call_id in ids]
    answer = chat(client, session_id=session_id, tool_results=results, tools=[WEATHER])
    assert answer["finish_reason"] == "stop"
    sent = fake_llm.last_body()["messages"]
    assert [m["tool_call_id"] for m in sent if m["role"] == "tool"] == ids


def test_results_go_back_stored_and_the_model_answers_with_them(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script(two_calls(), {"reply": "Lisbon 18 C, Porto 15 C."})
    asked = chat(client, session_id=session_id, message="Weather?", tools=[WEATHER])
    results = [
        {"tool_call_id": "call_a", "content": "18 C"},
        {"tool_call_id": "call_b", "content": "15 C"},
    ]
    answer = chat(client, session_id=session_id, tool_results=results, tools=[WEATHER])
    assert answer["content"] == "Lisbon 18 C, Porto 15 C."
    assert answer["tool_calls"] is None
    sent = fake_llm.last_body()["messages"]
    assert sent[-3:] == [
        {"role": "assistant", "content": "", "tool_calls": wire_calls(LISBON, PORTO)},
        {"role": "tool", "tool_call_id": "call_a", "content": "18 C"},
        {"role": "tool", "tool_call_id": "call_b", "content": "15 C"},
    ]
    path = history(client, session_id)
    assert [m["role"] for m in path] == ["user", "assistant", "tool", "assistant"]
    assert path[2]["tool_results"] == results
    assert path[2]["parent_id"] == asked["message_id"]
    assert answer["user_message_id"] == path[2]["message_id"]
    exported = client.get(f"/api/sessions/{session_id}/export").json()["messages"]
    assert exported[1]["tool_calls"] == wire_calls(LISBON, PORTO)
    assert exported[2]["tool_results"] == results


@pytest.mark.parametrize(
    ("results", "problem"),
    [
        ([{"tool_call_id": "call_a", "content": "18 C"}], "'call_b' of message"),
        (
            [
                {"tool_call_id": "call_a", "content": "1"},
                {"tool_call_id": "call_a", "content": "2"},
                {"tool_call_id": "call_b", "content": "3"},
            ],
            "more than one result",
        ),
        ([{"tool_call_id": "call_z", "content": "1"}], "'call_z' is not a call"),
    ],
    ids=["missing", "twice", "unknown"],
)
def test_results_that_do_not_answer_each_call_once_are_422_and_store_nothing(
    client: httpx.Client, fake_llm: FakeLLM, results: list[dict[str, str]], problem: str
) -> None:
    session_id = new_session(client)
    fake_llm.script(two_calls())
    chat(client, session_id=session_id, message="Weather?", tools=[WEATHER])
    before = history(client, session_id)
    response = client.post("/api/chat", json={"session_id": session_id, "tool_results": results})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_tool_results"
    assert problem in response.json()["detail"]
    assert history(client, session_id) == before


def test_results_after_a_reply_that_made_no_calls_are_422(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    chat(client, session_id=session_id, message="hi")
    results = [{"tool_call_id": "call_a", "content": "1"}]
    response = client.post("/api/chat", json={"session_id": session_id, "tool_results": results})
    assert response.status_code == 422
    assert "made none" in response.json()["detail"]
    assert [m["role"] for m in history(client, session_id)] == ["user", "assistant"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tools": [{"type": "retrieval"}]}, "tools.0.type"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "name"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"message": None, "tool_results": []}, "tool_results"),
    ],
)
def test_bad_tool_fields_are_422_naming_the_field(
    client: httpx.Client, fake_llm: FakeLLM, body: dict[str, Any], field: str
) -> None:
    session_id = new_session(client)
    response = client.post("/api/chat", json={"session_id": session_id, "message": "hi", **body})
    assert response.status_code == 422
    assert field in response.json()["errors"][0]["field"]
    assert fake_llm.requests() == []


def test_a_later_window_keeps_each_call_with_its_result_or_drops_both(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    """A budget that fits the tool message but not the call above it drops both;
    a call never answered (a new message came instead) goes as its text alone."""
    app: App = make_app(max_context_messages=3)
    with app.client() as http:
        session_id = new_session(http)
        fake_llm.script(two_calls(reply="Let me check."), {"reply": "Sunny."})
        chat(http, session_id=session_id, message="Weather?", tools=[WEATHER])
        results = [
            {"tool_call_id": "call_a", "content": "18 C"},
            {"tool_call_id": "call_b", "content": "15 C"},
        ]
        chat(http, session_id=session_id, tool_results=results)
        chat(http, session_id=session_id, message="Thanks")
        sent = fake_llm.last_body()["messages"]
        roles = [m["role"] for m in sent if m["role"] != "system"]
        # 3 messages: the new one and 2 of history; the tool message would be the
        # second, but its call cannot come: both are out.
        assert roles == ["assistant", "user"]
        assert sent[-2] == {"role": "assistant", "content": "Sunny."}
        fake_llm.script(two_calls())
        chat(http, session_id=session_id, message="And tomorrow?", tools=[WEATHER])
        chat(http, session_id=session_id, message="Never mind.")
        sent = fake_llm.last_body()["messages"]
        assert all("tool_calls" not in m and m["role"] != "tool" for m in sent)


def test_a_reply_after_results_can_be_regenerated(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session_id = new_session(client)
    fake_llm.script(two_calls(), {"reply": "First."}, {"reply": "Second."})
    chat(client, session_id=session_id, message="Weather?", tools=[WEATHER])
    results = [
        {"tool_call_id": "call_a", "content": "18 C"},
        {"tool_call_id": "call_b", "content": "15 C"},
    ]
    first = chat(client, session_id=session_id, tool_results=results)
    again = client.post(f"/api/messages/{first['message_id']}/regenerate", json={})
    assert again.status_code == 200, again.text
    assert again.json()["content"] == "Second."
    sent = fake_llm.last_body()["messages"]
    assert [m["role"] for m in sent[-3:]] == ["assistant", "tool", "tool"]
    assert json.loads(sent[-3]["tool_calls"][1]["function"]["arguments"]) == json.loads(PORTO)


def test_a_reply_cut_at_max_reply_chars_keeps_its_text_and_drops_its_calls(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app: App = make_app(max_reply_chars=8)
    with app.client() as http:
        fake_llm.script(two_calls(reply="This is far too long"))
        reply = chat(http, message="Weather?", tools=[WEATHER])
        assert (reply["content"], reply["finish_reason"]) == ("This is ", "length")
        assert reply["tool_calls"] is None
        assert history(http, reply["session_id"])[-1]["tool_calls"] is None
