"""Tool calls through the /v1 door, judged by the official SDK: a round trip whole
and streamed, with a session (only the new results are sent) and without one (the
whole conversation, calls and results, is stored as a new session)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from models.tools import TOOL_EXAMPLE
from tests.conftest import FakeLLM
from tests.fake_llm import MODEL
from tests.helpers import history, new_session
from tests.test_openai_chat import client_sdk  # noqa: F401  (the fixture)

WEATHER: ChatCompletionToolParam = TOOL_EXAMPLE  # type: ignore[assignment]
CALLS = [
    {"id": "call_a", "name": "get_weather", "arguments": '{"city": "Lisbon"}'},
    {"id": "call_b", "name": "get_weather", "arguments": '{"city": "Porto"}'},
]
QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Weather in Lisbon and Porto?"}
]


def run_tools(calls: Any) -> list[ChatCompletionMessageParam]:
    """What an app's tool loop sends back: one `tool` message per call."""
    return [
        {"role": "tool", "tool_call_id": call.id, "content": f"sunny in {call.function.name}"}
        for call in calls
    ]


def test_a_whole_round_trip_with_a_session(
    client_sdk: OpenAI,  # noqa: F811
    client: httpx.Client,
    fake_llm: FakeLLM,
) -> None:
    session_id = new_session(client)
    header = {"X-Session-Id": session_id}
    fake_llm.script(
        {"reply": "", "tool_calls": CALLS, "arguments_chunk": 4},
        {"reply": "Both sunny."},
    )
    first = client_sdk.chat.completions.create(
        model=MODEL, messages=QUESTION, tools=[WEATHER], extra_headers=header
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = [c for c in choice.message.tool_calls or [] if c.type == "function"]
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("call_a", "get_weather", {"city": "Lisbon"}),
        ("call_b", "get_weather", {"city": "Porto"}),
    ]
    assert fake_llm.last_body()["tools"] == [WEATHER]
    messages: list[Any] = [*QUESTION, choice.message.model_dump(exclude_none=True)]
    messages += run_tools(calls)
    second = client_sdk.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER], extra_headers=header
    )
    assert second.choices[0].message.content == "Both sunny."
    sent = fake_llm.last_body()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in sent[2:]] == ["call_a", "call_b"]
    stored = history(client, session_id)
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert len(stored[2]["tool_results"]) == 2


def test_a_streamed_round_trip_without_a_session(
    client_sdk: OpenAI,  # noqa: F811
    client: httpx.Client,
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script(
        {"reply": "", "tool_calls": CALLS, "arguments_chunk": 3, "interleave": True},
        {"reply": "Both sunny.", "chunk_delay": 0.01},
    )
    with client_sdk.chat.completions.stream(
        model=MODEL, messages=QUESTION, tools=[WEATHER]
    ) as stream:
        seen = [event.type for event in stream]
        first = stream.get_final_completion()
    assert "tool_calls.function.arguments.done" in seen
    calls = first.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Lisbon", "Porto"]
    assert first.choices[0].finish_reason == "tool_calls"
    messages: list[Any] = [*QUESTION, first.choices[0].message.model_dump(exclude_none=True)]
    messages += run_tools(calls)
    raw = client_sdk.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, tools=[WEATHER], stream=True
    )
    pieces = raw.parse()
    assert "".join(chunk.choices[0].delta.content or "" for chunk in pieces) == "Both sunny."
    sent = fake_llm.last_body()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Lisbon"}'
    # a reply is a response too: its conversation is the first turn's session
    as_response = client_sdk.responses.retrieve("resp_" + first.id.removeprefix("chatcmpl-"))
    first_session = as_response.conversation.id if as_response.conversation else ""
    assert [m["role"] for m in history(client, first_session)] == ["user", "assistant"]
    stored = history(client, raw.headers["X-Session-Id"])  # the whole list, then the reply
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[1]["tool_calls"][1]["function"]["arguments"] == '{"city": "Porto"}'
    assert [r["tool_call_id"] for r in stored[2]["tool_results"]] == ["call_a", "call_b"]


@pytest.mark.parametrize(
    ("messages", "says"),
    [
        (
            [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "x", "content": "1"},
            ],
            "before it made no tool calls",
        ),
        (
            [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_z", "content": "1"},
            ],
            "'call_z' is not a call",
        ),
    ],
    ids=["no-calls", "unknown-id"],
)
def test_results_that_answer_no_call_are_the_sdks_422(
    client_sdk: OpenAI,  # noqa: F811
    client: httpx.Client,
    fake_llm: FakeLLM,
    messages: list[Any],
    says: str,
) -> None:
    before = client.get("/api/sessions").json()["items"]
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client_sdk.chat.completions.create(model=MODEL, messages=messages)
    assert refused.value.code == "invalid_tool_results"
    assert says in refused.value.message
    assert fake_llm.requests() == []
    assert client.get("/api/sessions").json()["items"] == before  # nothing stored


RESPONSE_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather now in a city",
    "parameters": TOOL_EXAMPLE["function"]["parameters"],
}


def outputs_for(calls: list[Any]) -> list[Any]:
    """What an app's tool loop sends back on the Responses API."""
    return [
        {"type": "function_call_output", "call_id": call.call_id, "output": f"sunny ({i})"}
        for i, call in enumerate(calls)
    ]


def test_a_responses_round_trip_by_previous_response_id(
    client_sdk: OpenAI,  # noqa: F811
    fake_llm: FakeLLM,
) -> None:
    fake_llm.script({"reply": "", "tool_calls": CALLS, "arguments_chunk": 5}, {"reply": "Sunny."})
    first = client_sdk.responses.create(
        model=MODEL, input="Weather?", tools=[RESPONSE_TOOL], tool_choice="required"
    )
    assert fake_llm.last_body()["tools"] == [TOOL_EXAMPLE]
    assert fake_llm.last_body()["tool_choice"] == "required"
    calls = [item for item in first.output if item.type == "function_call"]
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        (c["id"], c["name"], c["arguments"]) for c in CALLS
    ]
    assert first.status == "completed"
    assert first.tools[0].name == "get_weather"  # type: ignore[union-attr]
    second = client_sdk.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=outputs_for(calls),
        tools=[RESPONSE_TOOL],
    )
    assert second.output_text == "Sunny."
    sent = fake_llm.last_body()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [m["content"] for m in sent[2:]] == ["sunny (0)", "sunny (1)"]
    listed = client_sdk.responses.input_items.list(second.id)
    assert [(i.type, getattr(i, "call_id", None)) for i in listed.data] == [
        ("function_call_output", "call_a"),
        ("function_call_output", "call_b"),
    ]
    assert client_sdk.responses.retrieve(first.id).output[1].type == "function_call"


def test_the_responses_stream_helper_assembles_calls_and_a_resume_repeats_them(
    client_sdk: OpenAI,  # noqa: F811
    fake_llm: FakeLLM,
) -> None:
    behaviour = {"reply": "Let me see.", "tool_calls": CALLS, "arguments_chunk": 2}
    fake_llm.script({**behaviour, "interleave": True})
    with client_sdk.responses.stream(model=MODEL, input="Weather?", tools=[RESPONSE_TOOL]) as s:
        events = list(s)
        final = s.get_final_response()
    kinds = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert kinds.count("response.function_call_arguments.done") == 2
    assert kinds[-1] == "response.completed"
    calls = [item for item in final.output if item.type == "function_call"]
    assert [c.arguments for c in calls] == [c["arguments"] for c in CALLS]
    assert final.output_text == "Let me see."
    again = list(client_sdk.responses.retrieve(final.id, stream=True, starting_after=2))
    first_call = next(
        e for e in events if e.type == "response.output_item.added" and e.output_index == 1
    )
    later = list(
        client_sdk.responses.retrieve(
            final.id, stream=True, starting_after=first_call.sequence_number
        )
    )
    assert [(e.type, e.sequence_number) for e in later] == [
        (e.type, e.sequence_number)
        for e in events
        if e.sequence_number > first_call.sequence_number
    ]
    # the stored text comes back as one delta; every other event as it was sent
    not_text = [(e.sequence_number, e.type) for e in events[3:] if "text.delta" not in e.type]
    assert [(e.sequence_number, e.type) for e in again if "text.delta" not in e.type] == not_text
    assert "".join(e.delta for e in again if e.type == "response.output_text.delta") == (
        "Let me see."
    )
    conversation = final.conversation.id if final.conversation else ""
    fake_llm.script({"reply": "Sunny both."})
    with client_sdk.responses.stream(
        model=MODEL, input=outputs_for(calls), conversation=conversation
    ) as s:
        answered = s.get_final_response()
    assert answered.output_text == "Sunny both."
    assert [m["role"] for m in fake_llm.last_body()["messages"]][-3:] == [
        "assistant",
        "tool",
        "tool",
    ]


def test_a_conversation_holds_calls_and_outputs_as_their_own_items(
    client_sdk: OpenAI,  # noqa: F811
    fake_llm: FakeLLM,
) -> None:
    call = {
        "type": "function_call",
        "call_id": "call_x",
        "name": "get_weather",
        "arguments": '{"city": "Lisbon"}',
    }
    output = {"type": "function_call_output", "call_id": "call_x", "output": "18 C"}
    made = client_sdk.conversations.create(
        items=[{"role": "user", "content": "Weather?"}, call, output]  # type: ignore[list-item]
    )
    listed = client_sdk.conversations.items.list(made.id, order="asc").data
    assert [item.type for item in listed] == ["message", "function_call", "function_call_output"]
    call_item = listed[1].id or ""
    fetched = client_sdk.conversations.items.retrieve(call_item, conversation_id=made.id)
    assert fetched.type == "function_call"
    assert (fetched.call_id, fetched.arguments) == ("call_x", '{"city": "Lisbon"}')
    fake_llm.script({"reply": "It is 18 C."})
    answer = client_sdk.responses.create(model=MODEL, input="So?", conversation=made.id)
    assert answer.output_text == "It is 18 C."
    sent = fake_llm.last_body()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]
    stray = {"type": "function_call_output", "call_id": "call_y", "output": "1"}
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client_sdk.conversations.items.create(made.id, items=[stray])  # type: ignore[list-item]
    assert refused.value.code == "invalid_tool_results"
