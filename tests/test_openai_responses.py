"""The Responses API on the OpenAI door (issue 21), judged by the official `openai`
SDK: chains by previous_response_id and by conversation, the SDK's stream helper,
background + retrieve + cancel, a stream resumed from another process, delete, input
items, and errors as the SDK's own types. Isolation: tests/test_isolation.py."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import App, FakeLLM
from tests.helpers import history, new_session, wait_for
from tests.test_openai_chat import sdk, upstream_messages
from tests.test_stop import STOP_DEADLINE_SECONDS, upstream_closed_after

WORDS = [f"w{n} " for n in range(40)]
SLOW_REPLY = {"chunks": WORDS, "chunk_delay": 0.05}


@pytest.fixture
def client_sdk(app: App) -> Iterator[OpenAI]:
    with sdk(app) as made:
        yield made


def test_three_responses_chained_by_previous_response_id(
    client_sdk: OpenAI, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    first = client_sdk.responses.create(
        model="m", input="my name is Ada", instructions="Be brief.", metadata={"app": "t"}
    )
    assert (first.status, first.output_text) == ("completed", "Echo: my name is Ada")
    assert first.instructions == "Be brief."
    assert first.usage is not None
    assert first.usage.output_tokens > 0
    second = client_sdk.responses.create(
        model="m", input="what is my name?", previous_response_id=first.id
    )
    third = client_sdk.responses.create(
        model="m", input="and again?", previous_response_id=second.id
    )
    assert third.previous_response_id == second.id
    assert upstream_messages(fake_llm) == [
        ("system", "Be brief."),
        ("user", "my name is Ada"),
        ("assistant", "Echo: my name is Ada"),
        ("user", "what is my name?"),
        ("assistant", "Echo: what is my name?"),
        ("user", "and again?"),
    ]
    assert first.conversation is not None
    session_id = first.conversation.id
    assert {r.conversation.id for r in (second, third) if r.conversation} == {session_id}
    assert client.get(f"/api/sessions/{session_id}").json()["metadata"] == {"app": "t"}

    # from an older response: a branch, and the new path is the session's
    branch = client_sdk.responses.create(model="m", input="instead", previous_response_id=first.id)
    assert upstream_messages(fake_llm)[-3:] == [
        ("user", "my name is Ada"),
        ("assistant", "Echo: my name is Ada"),
        ("user", "instead"),
    ]
    assert client_sdk.responses.retrieve(branch.id).previous_response_id == first.id
    assert [m["content"] for m in history(client, session_id)][-1] == "Echo: instead"


def test_responses_in_a_conversation_continue_its_active_path(
    client_sdk: OpenAI, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client, system_prompt="You are a session.")
    for text in ("one", "two", "three"):
        made = client_sdk.responses.create(
            model="m", input=[{"role": "user", "content": text}], conversation=session_id
        )
        assert made.conversation is not None
        assert made.conversation.id == session_id
    assert [m["content"] for m in history(client, session_id)] == [
        "one", "Echo: one", "two", "Echo: two", "three", "Echo: three",
    ]  # fmt: skip
    assert upstream_messages(fake_llm)[0] == ("system", "You are a session.")
    with pytest.raises(openai.UnprocessableEntityError) as conflict:
        client_sdk.responses.create(
            model="m", input="x", conversation=session_id, instructions="Something else."
        )
    assert conflict.value.code == "session_conflict"


def test_the_sdks_stream_helper_consumes_every_event(client_sdk: OpenAI) -> None:
    with client_sdk.responses.stream(model="m", input="stream this please") as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert final.output_text == "Echo: stream this please"
    assert final.status == "completed"
    assert client_sdk.responses.retrieve(final.id).output_text == final.output_text


def test_a_background_response_is_retrieved_and_cancelled(
    client_sdk: OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(SLOW_REPLY)
    started = client_sdk.responses.create(model="m", input="go slowly", background=True)
    assert started.status == "in_progress"
    wait_for(lambda: len(client_sdk.responses.retrieve(started.id).output_text) > 6)
    assert client_sdk.responses.retrieve(started.id).status == "in_progress"
    asked_at = time.time()
    cancelled = client_sdk.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    assert upstream_closed_after(fake_llm, asked_at) < STOP_DEADLINE_SECONDS
    kept = cancelled.output_text
    assert kept.startswith("w0 w1 ")
    assert len(kept) < len("".join(WORDS))
    assert client_sdk.responses.retrieve(started.id).output_text == kept
    assert client_sdk.responses.cancel(started.id).status == "cancelled"  # ended: as it is


def test_a_dropped_stream_is_resumed_from_another_process(
    app: App, second_process: App, client_sdk: OpenAI, fake_llm: FakeLLM
) -> None:
    fake_llm.script(SLOW_REPLY)
    seen: list[Any] = []
    with client_sdk.responses.create(model="m", input="long one", stream=True) as stream:
        for event in stream:
            seen.append(event)
            if event.type == "response.output_text.delta" and len(seen) >= 8:
                break  # the connection drops here
    response_id = seen[0].response.id
    with sdk(second_process) as elsewhere:
        rest: list[Any] = list(
            elsewhere.responses.retrieve(
                response_id, stream=True, starting_after=seen[-1].sequence_number
            )
        )
    numbers = [e.sequence_number for e in seen + rest]
    assert numbers == sorted(set(numbers))  # in order, none twice (text read from the
    # store comes as one delta numbered as the last it holds)
    assert rest[0].sequence_number > seen[-1].sequence_number
    text = "".join(e.delta for e in seen + rest if e.type == "response.output_text.delta")
    assert text == "".join(WORDS)
    assert rest[-1].type == "response.completed"
    assert rest[-1].response.output_text == text
    assert rest[-2].item.content[0].text == text


def test_a_response_is_deleted_and_lists_its_input(
    client_sdk: OpenAI, client: httpx.Client
) -> None:
    made = client_sdk.responses.create(model="m", input=[{"role": "user", "content": "keep me"}])
    items: Any = client_sdk.responses.input_items.list(made.id)
    assert [(i.type, i.role, i.content[0].text) for i in items.data] == [
        ("message", "user", "keep me")
    ]
    client_sdk.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError) as gone:
        client_sdk.responses.retrieve(made.id)
    assert gone.value.code == "response_not_found"
    assert made.conversation is not None
    assert [m["content"] for m in history(client, made.conversation.id)] == ["keep me"]


def test_response_errors_are_the_sdks_own_types(client_sdk: OpenAI, fake_llm: FakeLLM) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client_sdk.responses.create(
            model="m", input="x", previous_response_id=f"resp_{uuid.uuid4()}"
        )
    assert missing.value.code == "response_not_found"
    with pytest.raises(openai.NotFoundError):
        client_sdk.responses.retrieve("not-a-response-id")
    for refused in ({"parallel_tool_calls": False}, {"truncation": "sometimes"}):
        with pytest.raises(openai.UnprocessableEntityError) as bad:
            client_sdk.responses.create(model="m", input="x", extra_body=refused)
        assert bad.value.param == next(iter(refused))
    fake_llm.script({"chunks": ["a ", "b ", "c ", "d "], "fault": "break"})
    with client_sdk.responses.create(model="m", input="fail", stream=True) as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    assert events[-1].response.status == "failed"
    assert events[-1].response.error is not None


def test_each_response_keeps_what_its_request_asked(client_sdk: OpenAI) -> None:
    """metadata, instructions, sampling, tools and truncation are the response's own:
    a retrieve (or a resumed stream) echoes them, from any process."""
    tool: Any = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    first = client_sdk.responses.create(
        model="m",
        input="one",
        instructions="Be brief.",
        metadata={"ticket": "T-1"},
        temperature=0.3,
        tools=[tool],
        tool_choice="none",
    )
    second = client_sdk.responses.create(
        model="m", input="two", previous_response_id=first.id, metadata={"ticket": "T-2"}
    )
    again = client_sdk.responses.retrieve(first.id)
    assert (again.metadata, again.instructions, again.temperature) == (
        {"ticket": "T-1"},
        "Be brief.",
        0.3,
    )
    assert [t.name for t in again.tools] == ["lookup"]  # type: ignore[union-attr]
    assert again.tool_choice == "none"
    later = client_sdk.responses.retrieve(second.id)
    assert later.metadata == {"ticket": "T-2"}
    assert later.previous_response_id == first.id
    resumed = list(client_sdk.responses.retrieve(second.id, stream=True, starting_after=0))
    assert resumed[-1].response.metadata == {"ticket": "T-2"}  # type: ignore[union-attr]


def test_going_on_with_several_items_appends_them_first(
    client_sdk: OpenAI, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    """A client that keeps its own list sends several items with previous_response_id:
    the earlier ones go below that response, the turn below them; refused, they go."""
    first = client_sdk.responses.create(model="m", input="one")
    items: Any = [
        {"role": "user", "content": "an aside"},
        {"role": "assistant", "content": "noted"},
        {"role": "user", "content": "two"},
    ]
    second = client_sdk.responses.create(model="m", input=items, previous_response_id=first.id)
    assert second.output_text == "Echo: two"
    session_id = second.conversation.id if second.conversation else ""
    assert [m["content"] for m in history(client, session_id)] == [
        "one", "Echo: one", "an aside", "noted", "two", "Echo: two",
    ]  # fmt: skip
    assert [m[1] for m in upstream_messages(fake_llm)][-4:] == [
        "Echo: one",
        "an aside",
        "noted",
        "two",
    ]
    before = history(client, session_id)
    with pytest.raises(openai.APIStatusError) as too_long:  # refused after the append
        client_sdk.responses.create(
            model="m",
            input=[*items[:2], {"role": "user", "content": "x" * 32_001}],
            previous_response_id=second.id,
        )
    assert too_long.value.status_code == 413
    assert history(client, session_id) == before
    fake_llm.script({"status": 400, "error": "no"})  # a turn that began keeps its items
    with pytest.raises(openai.APIStatusError):
        client_sdk.responses.create(model="m", input=items, conversation=session_id)
    assert len(history(client, session_id)) == len(before) + 4
    assert history(client, session_id)[-1]["status"] == "failed"
