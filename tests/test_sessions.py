"""Session routes over real HTTP against a real SQLite file."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import App
from tests.helpers import chat, history, new_session

SESSION_FIELDS = {
    "session_id",
    "created_at",
    "last_accessed",
    "owner",
    "metadata",
    "system_prompt",
    "message_count",
    "active_leaf_id",
    "forked_from",
    "profile_id",
    "title",
    "pinned",
    "archived",
}


def test_create_session_returns_201_with_uuid4_and_all_fields(client: httpx.Client) -> None:
    response = client.post(
        "/api/sessions", json={"metadata": {"user_id": "u1"}, "system_prompt": "Be brief."}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == SESSION_FIELDS
    assert uuid.UUID(body["session_id"]).version == 4
    assert body["metadata"] == {"user_id": "u1"}
    assert body["system_prompt"] == "Be brief."
    assert body["message_count"] == 0
    assert (body["active_leaf_id"], body["forked_from"]) == (None, None)
    assert body["created_at"].endswith("Z")


def test_create_session_without_body_like_the_curl_example(client: httpx.Client) -> None:
    response = client.post("/api/sessions")
    assert response.status_code == 201
    assert response.json()["metadata"] == {}
    assert response.json()["system_prompt"] is None


def test_get_session_returns_it_and_counts_messages(client: httpx.Client) -> None:
    session_id = new_session(client)
    chat(client, session_id=session_id, message="hi")
    body = client.get(f"/api/sessions/{session_id}").json()
    assert body["session_id"] == session_id
    assert body["message_count"] == 2


def test_unknown_and_malformed_session_ids_are_404(client: httpx.Client) -> None:
    for session_id in [str(uuid.uuid4()), "not-a-uuid", "%27%3B--", "x" * 300]:
        response = client.get(f"/api/sessions/{session_id}")
        assert response.status_code == 404, session_id
        assert response.json()["code"] == "session_not_found"
    missing = str(uuid.uuid4())
    assert client.get(f"/api/sessions/{missing}").json()["detail"] == (
        f"Session {missing} not found"
    )


def test_patch_updates_metadata_and_system_prompt_separately(client: httpx.Client) -> None:
    session_id = new_session(client, metadata={"a": 1}, system_prompt="old")
    response = client.patch(f"/api/sessions/{session_id}", json={"metadata": {"b": 2}})
    assert response.status_code == 200
    assert response.json()["metadata"] == {"b": 2}
    assert response.json()["system_prompt"] == "old"
    response = client.patch(f"/api/sessions/{session_id}", json={"system_prompt": "new"})
    assert response.json() | {"last_accessed": None} == client.get(
        f"/api/sessions/{session_id}"
    ).json() | {"last_accessed": None}
    assert response.json()["system_prompt"] == "new"
    assert response.json()["metadata"] == {"b": 2}


def test_patch_unknown_session_is_404(client: httpx.Client) -> None:
    response = client.patch(f"/api/sessions/{uuid.uuid4()}", json={"metadata": {}})
    assert response.status_code == 404


def test_delete_removes_session_and_cascades_to_messages(app: App, client: httpx.Client) -> None:
    session_id = new_session(client)
    chat(client, session_id=session_id, message="to be deleted")
    with app.db() as db:
        stored = db.execute("SELECT count(*) FROM messages WHERE session_id=?", (session_id,))
        assert stored.fetchone() == (2,)
    response = client.delete(f"/api/sessions/{session_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/api/sessions/{session_id}").status_code == 404
    assert client.delete(f"/api/sessions/{session_id}").status_code == 404
    with app.db() as db:
        left = db.execute("SELECT count(*) FROM messages WHERE session_id=?", (session_id,))
        assert left.fetchone() == (0,)


def test_list_is_newest_accessed_first_and_keyset_paginated(make_app) -> None:
    app = make_app()
    with app.client() as http:
        created = [new_session(http, metadata={"n": n}) for n in range(7)]
        http.get(f"/api/sessions/{created[2]}")  # access moves it to the front
        expected = [created[2], *[s for s in reversed(created) if s != created[2]]]

        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = http.get("/api/sessions", params=params).json()
            seen += [item["session_id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected
        assert pages == 3
        assert len(http.get("/api/sessions").json()["items"]) == 7  # default limit 20


def test_list_limit_bounds_and_bad_cursor_are_422(client: httpx.Client) -> None:
    for limit in (0, 101, "x"):
        response = client.get("/api/sessions", params={"limit": limit})
        assert response.status_code == 422
        assert "limit" in response.json()["detail"]
    response = client.get("/api/sessions", params={"cursor": "garbage!"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"


def test_message_history_is_chronological_with_all_fields(client: httpx.Client) -> None:
    session_id = new_session(client)
    for text in ["one", "two", "three"]:
        chat(client, session_id=session_id, message=text)
    items = history(client, session_id)
    assert [m["content"] for m in items] == [
        "one",
        "Echo: one",
        "two",
        "Echo: two",
        "three",
        "Echo: three",
    ]
    assert [m["role"] for m in items] == ["user", "assistant"] * 3
    assert set(items[1]) >= {
        "message_id",
        "session_id",
        "role",
        "content",
        "status",
        "created_at",
        "token_usage",
        "finish_reason",
    }
    assert items[1]["status"] == "complete"
    assert items[1]["finish_reason"] == "stop"
    assert items[0]["token_usage"] is None


def test_message_history_pages_backwards_with_before(client: httpx.Client) -> None:
    session_id = new_session(client)
    for n in range(5):
        chat(client, session_id=session_id, message=f"m{n}")
    page = client.get(f"/api/sessions/{session_id}/messages", params={"limit": 4}).json()
    assert [m["content"] for m in page["items"]] == ["m3", "Echo: m3", "m4", "Echo: m4"]
    older = client.get(
        f"/api/sessions/{session_id}/messages",
        params={"limit": 4, "before": page["next_cursor"]},
    ).json()
    assert [m["content"] for m in older["items"]] == ["m1", "Echo: m1", "m2", "Echo: m2"]
    oldest = client.get(
        f"/api/sessions/{session_id}/messages",
        params={"limit": 4, "before": older["next_cursor"]},
    ).json()
    assert [m["content"] for m in oldest["items"]] == ["m0", "Echo: m0"]
    assert oldest["next_cursor"] is None
    assert len(history(client, session_id)) == 10  # default limit 50 covers all


def test_message_history_rejects_bad_limits_cursors_and_sessions(client: httpx.Client) -> None:
    session_id = new_session(client)
    url = f"/api/sessions/{session_id}/messages"
    assert client.get(url, params={"limit": 0}).status_code == 422
    assert client.get(url, params={"limit": 501}).status_code == 422
    assert client.get(url, params={"limit": 500}).status_code == 200
    response = client.get(url, params={"before": str(uuid.uuid4())})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"
    assert client.get(f"/api/sessions/{uuid.uuid4()}/messages").status_code == 404


def test_message_of_another_session_is_not_a_valid_cursor(client: httpx.Client) -> None:
    first = new_session(client)
    other = chat(client, message="elsewhere")
    response = client.get(f"/api/sessions/{first}/messages", params={"before": other["message_id"]})
    assert response.status_code == 422
