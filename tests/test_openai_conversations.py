"""The Conversations API on the OpenAI door (issue 21), judged by the official
`openai` SDK: CRUD, items paged both ways, items added and used by the next
response, items retrieved and deleted. Isolation between keys: tests/test_isolation.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import App, FakeLLM
from tests.helpers import history
from tests.test_openai_chat import sdk, upstream_messages
from tests.test_stop import SLOW_REPLY


@pytest.fixture
def client_sdk(app: App) -> Iterator[OpenAI]:
    with sdk(app) as made:
        yield made


def texts(items: Any) -> list[str]:
    return [item.content[0].text for item in items]


def test_a_conversation_is_created_read_changed_and_deleted(
    client_sdk: OpenAI, client: httpx.Client
) -> None:
    made = client_sdk.conversations.create(
        metadata={"topic": "trips"},
        items=[
            {"type": "message", "role": "system", "content": "You plan trips."},
            {"type": "message", "role": "user", "content": "Hello"},
        ],
    )
    assert made.metadata == {"topic": "trips"}
    session = client.get(f"/api/sessions/{made.id}").json()
    assert session["system_prompt"] == "You plan trips."
    assert [m["content"] for m in history(client, made.id)] == ["Hello"]
    assert client_sdk.conversations.retrieve(made.id).created_at == made.created_at
    changed = client_sdk.conversations.update(made.id, metadata={"topic": "food"})
    assert changed.metadata == {"topic": "food"}
    deleted = client_sdk.conversations.delete(made.id)
    assert (deleted.id, deleted.deleted) == (made.id, True)
    with pytest.raises(openai.NotFoundError) as gone:
        client_sdk.conversations.retrieve(made.id)
    assert gone.value.code == "session_not_found"


def test_items_are_paged_both_ways_and_added_items_reach_the_next_response(
    client_sdk: OpenAI, fake_llm: FakeLLM
) -> None:
    words = [f"item {n}" for n in range(7)]
    made = client_sdk.conversations.create(
        items=[{"type": "message", "role": "user", "content": w} for w in words[:3]]
    )
    added: Any = client_sdk.conversations.items.create(
        made.id,
        items=[
            {"type": "message", "role": "assistant", "content": words[3]},
            {"type": "message", "role": "user", "content": words[4]},
        ],
    )
    assert texts(added.data) == words[3:5]
    with pytest.raises(openai.UnprocessableEntityError) as system:
        client_sdk.conversations.items.create(
            made.id, items=[{"type": "message", "role": "developer", "content": "obey"}]
        )
    assert system.value.code == "session_conflict"
    assert [i.role for i in added.data] == ["assistant", "user"]
    first: Any = client_sdk.conversations.items.list(made.id, limit=2)
    assert texts(first.data) == ["item 4", "item 3"]
    assert first.has_more
    rest: Any = client_sdk.conversations.items.list(made.id, limit=10, after=first.last_id)
    assert texts(rest.data) == ["item 2", "item 1", "item 0"]
    assert not rest.has_more
    oldest: Any = client_sdk.conversations.items.list(made.id, limit=3, order="asc")
    assert texts(oldest.data) == words[:3]
    newer: Any = client_sdk.conversations.items.list(
        made.id, limit=3, order="asc", after=oldest.last_id
    )
    assert (texts(newer.data), newer.has_more) == (words[3:5], False)
    every = texts(list(client_sdk.conversations.items.list(made.id, limit=2)))
    assert every == list(reversed(words[:5]))  # the SDK's own paging, page after page

    response = client_sdk.responses.create(model="m", input=words[5], conversation=made.id)
    window = [text for _, text in upstream_messages(fake_llm)]
    assert window[-6:] == words[:6]  # the added items are in the next window
    newest: Any = client_sdk.conversations.items.list(made.id, limit=2)
    assert texts(newest.data) == [response.output_text, words[5]]


def test_items_are_retrieved_and_deleted(client_sdk: OpenAI, client: httpx.Client) -> None:
    made = client_sdk.conversations.create(
        items=[
            {"type": "message", "role": "user", "content": "keep"},
            {"type": "message", "role": "assistant", "content": "drop me"},
        ]
    )
    items: Any = client_sdk.conversations.items.list(made.id, order="asc")
    kept, dropped = items.data
    one: Any = client_sdk.conversations.items.retrieve(dropped.id, conversation_id=made.id)
    assert (one.role, one.status) == ("assistant", "completed")
    assert one.content[0].type == "output_text"
    after = client_sdk.conversations.items.delete(dropped.id, conversation_id=made.id)
    assert after.id == made.id
    assert [m["content"] for m in history(client, made.id)] == ["keep"]
    with pytest.raises(openai.NotFoundError):
        client_sdk.conversations.items.retrieve(dropped.id, conversation_id=made.id)
    other = client_sdk.conversations.create()
    with pytest.raises(openai.NotFoundError):  # an item of another conversation
        client_sdk.conversations.items.retrieve(kept.id, conversation_id=other.id)


def test_items_wait_for_a_reply_being_generated(
    client_sdk: OpenAI, fake_llm: FakeLLM, client: httpx.Client
) -> None:
    made = client_sdk.conversations.create()
    fake_llm.script(SLOW_REPLY)
    running = client_sdk.responses.create(
        model="m", input="long", conversation=made.id, background=True
    )
    with pytest.raises(openai.ConflictError) as busy:
        client_sdk.conversations.items.create(
            made.id, items=[{"type": "message", "role": "user", "content": "too soon"}]
        )
    assert busy.value.code == "turn_in_progress"
    client_sdk.responses.cancel(running.id)
    assert "too soon" not in [m["content"] for m in history(client, made.id)]
