"""Chat profiles (issue 18): CRUD, search, sort and keyset paging, and what a turn
takes from them: request field > session > profile > service setting, for every
field; the reply records the model that answered."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import FakeLLM
from tests.helpers import chat, new_session


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create(http: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("name", unique("profile"))
    response = http.post("/api/profiles", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_profile_is_created_read_changed_and_deleted(client: httpx.Client) -> None:
    made = create(
        client,
        description="Plans trips",
        system_prompt="You plan trips.",
        model="planner-model",
        temperature=0.4,
        top_p=0.9,
        max_tokens=300,
        memory={"type": "summary", "max_messages": 20},
        tags=["travel", "work", "travel"],
    )
    profile_id = made["profile_id"]
    assert uuid.UUID(profile_id).version == 4
    assert made["tags"] == ["travel", "work"]  # duplicates once, in order
    assert made["memory"] == {"type": "summary", "max_messages": 20, "max_context_tokens": None}
    assert made["owner"] is None  # AUTH_MODE=none
    assert client.get(f"/api/profiles/{profile_id}").json() == made

    changed = client.patch(
        f"/api/profiles/{profile_id}", json={"temperature": 0.2, "model": None, "tags": ["x"]}
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert (after["temperature"], after["model"], after["tags"]) == (0.2, None, ["x"])
    assert after["system_prompt"] == "You plan trips."  # left out: kept
    assert after["updated_at"] > made["updated_at"]
    assert after["created_at"] == made["created_at"]

    assert client.delete(f"/api/profiles/{profile_id}").status_code == 204
    missing = client.get(f"/api/profiles/{profile_id}")
    assert (missing.status_code, missing.json()["code"]) == (404, "profile_not_found")
    assert client.delete(f"/api/profiles/{profile_id}").status_code == 404
    assert client.patch(f"/api/profiles/{profile_id}", json={"top_p": 0.5}).status_code == 404


def test_names_are_unique_per_owner(client: httpx.Client) -> None:
    name = unique("same")
    first = create(client, name=name)
    again = client.post("/api/profiles", json={"name": name})
    assert (again.status_code, again.json()["code"]) == (409, "profile_name_taken")
    other = create(client)
    renamed = client.patch(f"/api/profiles/{other['profile_id']}", json={"name": name})
    assert (renamed.status_code, renamed.json()["code"]) == (409, "profile_name_taken")
    # its own name again is no conflict
    kept = client.patch(f"/api/profiles/{first['profile_id']}", json={"name": name})
    assert kept.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 101},
        {"name": "ok", "temperature": 3},
        {"name": "ok", "top_p": 0},
        {"name": "ok", "max_tokens": 0},
        {"name": "ok", "memory": {"type": "forever"}},
        {"name": "ok", "memory": {"max_messages": 0}},
        {"name": "ok", "tags": [" padded "]},
        {"name": "ok", "tags": [f"t{n}" for n in range(21)]},
        {"name": "ok", "owner": "someone-else"},
        {"name": "ok", "temperature": "0.5"},
        {"name": "ok", "max_tokens": 300.5},
        {"name": "ok", "max_tokens": "300"},
        {"name": "ok", "memory": {"max_messages": True}},
    ],
)
def test_bad_profiles_are_refused_naming_the_field(
    client: httpx.Client, body: dict[str, Any]
) -> None:
    response = client.post("/api/profiles", json=body)
    assert response.status_code == 422, body
    assert response.json()["code"] == "validation_error"


def test_a_whole_number_written_as_a_float_is_a_json_schema_integer(
    client: httpx.Client,
) -> None:
    """`300.0` is an `integer` by JSON Schema (what a JavaScript client may send)."""
    body = {"name": "floaty", "max_tokens": 300.0, "memory": {"max_context_tokens": 900.0}}
    created = client.post("/api/profiles", json=body)
    assert created.status_code == 201, created.text
    profile = client.get(f"/api/profiles/{created.json()['profile_id']}").json()
    assert profile["max_tokens"] == 300
    assert type(profile["max_tokens"]) is int
    assert profile["memory"]["max_context_tokens"] == 900
    changed = client.patch(
        f"/api/profiles/{profile['profile_id']}", json={"memory": {"max_messages": 12.0}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["memory"]["max_messages"] == 12


def names(page: dict[str, Any]) -> list[str]:
    return [item["name"] for item in page["items"]]


def every_page(http: httpx.Client, **params: Any) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = http.get("/api/profiles", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        found += names(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_search_filters_sorts_and_pages(client: httpx.Client) -> None:
    tag = unique("tag")
    words = ["cats", "dogs", "Cats", "fish", "birds", "cats", "50%"]
    made = [
        create(client, name=f"{tag}-{letter}", description=f"about {word}", tags=[tag])
        for letter, word in zip("dbfaceg", words, strict=True)
    ]
    by_name = sorted(m["name"] for m in made)
    assert every_page(client, tag=tag, sort="name", order="asc", limit=3) == by_name
    assert every_page(client, tag=tag, sort="name", order="desc", limit=2) == by_name[::-1]
    in_order = [m["name"] for m in made]
    assert every_page(client, tag=tag, sort="created_at", order="asc", limit=3) == in_order
    assert every_page(client, tag=tag, sort="updated_at", limit=4) == in_order[::-1]  # default desc

    cats = every_page(client, tag=tag, q="CATS", sort="name", order="asc")
    assert cats == [f"{tag}-d", f"{tag}-e", f"{tag}-f"]  # case-insensitive, in description
    assert every_page(client, tag=tag, q="50%") == [f"{tag}-g"]  # % is literal
    assert every_page(client, tag=tag, q=f"{tag}-b") == [f"{tag}-b"]  # in the name
    assert every_page(client, tag=unique("none")) == []

    first = client.get("/api/profiles", params={"tag": tag, "sort": "name", "limit": 2}).json()
    reused = client.get(
        "/api/profiles", params={"tag": tag, "sort": "created_at", "cursor": first["next_cursor"]}
    )
    assert (reused.status_code, reused.json()["code"]) == (422, "invalid_cursor")
    bad = client.get("/api/profiles", params={"sort": "owner"})
    assert bad.status_code == 422


def test_a_turn_takes_request_then_session_then_profile_then_settings(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    profile = create(
        client,
        system_prompt="Profile prompt.",
        model="profile-model",
        temperature=0.3,
        top_p=0.5,
        max_tokens=33,
    )
    session_id = new_session(client, profile_id=profile["profile_id"])
    reply = chat(client, session_id=session_id, message="one")
    used = fake_llm.last_body()
    assert used["messages"][0] == {"role": "system", "content": "Profile prompt."}
    assert (used["model"], used["temperature"], used["top_p"], used["max_tokens"]) == (
        "profile-model",
        0.3,
        0.5,
        33,
    )
    stored = client.get(f"/api/sessions/{session_id}/messages").json()["items"][-1]
    assert stored["message_id"] == reply["message_id"]
    assert stored["model"] == "profile-model"  # the model that answered

    # the request's fields come first, the session's system prompt before the profile's
    client.patch(f"/api/sessions/{session_id}", json={"system_prompt": "Session prompt."})
    chat(client, session_id=session_id, message="two", model="asked-model", temperature=1.1)
    used = fake_llm.last_body()
    assert used["messages"][0]["content"] == "Session prompt."
    assert (used["model"], used["temperature"], used["max_tokens"]) == ("asked-model", 1.1, 33)

    # a change to the profile applies from the next turn
    client.patch(f"/api/profiles/{profile['profile_id']}", json={"max_tokens": 44})
    chat(client, session_id=session_id, message="three")
    assert fake_llm.last_body()["max_tokens"] == 44

    # deleted: the session goes on with the service's settings
    assert client.delete(f"/api/profiles/{profile['profile_id']}").status_code == 204
    assert client.get(f"/api/sessions/{session_id}").json()["profile_id"] is None
    chat(client, session_id=session_id, message="four")
    used = fake_llm.last_body()
    assert (used["model"], used["temperature"], used["max_tokens"]) == ("fake-model", 0.7, 256)
    assert "top_p" not in used


def test_a_session_takes_a_profile_away_with_null_and_refuses_an_unknown_one(
    client: httpx.Client,
) -> None:
    profile = create(client)
    session_id = new_session(client, profile_id=profile["profile_id"])
    assert client.get(f"/api/sessions/{session_id}").json()["profile_id"] == profile["profile_id"]
    kept = client.patch(f"/api/sessions/{session_id}", json={"metadata": {"a": 1}})
    assert kept.json()["profile_id"] == profile["profile_id"]  # left out: kept
    cleared = client.patch(f"/api/sessions/{session_id}", json={"profile_id": None})
    assert cleared.json()["profile_id"] is None
    missing = str(uuid.uuid4())
    for response in (
        client.post("/api/sessions", json={"profile_id": missing}),
        client.patch(f"/api/sessions/{session_id}", json={"profile_id": missing}),
    ):
        assert (response.status_code, response.json()["code"]) == (422, "invalid_profile")
        assert missing in response.json()["detail"]
    assert client.get(f"/api/sessions/{session_id}").json()["profile_id"] is None


def test_a_profiles_memory_sizes_the_window(client: httpx.Client) -> None:
    profile = create(client, memory={"type": "buffer", "max_messages": 3})
    session_id = new_session(client, profile_id=profile["profile_id"])
    for n in range(4):
        reply = chat(client, session_id=session_id, message=f"message {n}")
    plan = client.get(f"/api/messages/{reply['message_id']}/context").json()
    assert [p["role"] for p in plan["parts"]] == ["user", "assistant", "user"]  # 2 + the new one
    forked = client.post(
        f"/api/sessions/{session_id}/fork", json={"message_id": reply["message_id"]}
    ).json()
    assert forked["profile_id"] == profile["profile_id"]  # a fork keeps its profile
