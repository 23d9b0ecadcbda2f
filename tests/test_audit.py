"""The audit trail over real HTTP: a create, export and delete, and key changes, each
recorded with who, when and the request id; paginated; never content."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import App


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_create_export_delete_are_recorded_with_who_and_which_request(make_app: Any) -> None:
    app: App = make_app(auth_mode="api_key")
    alice, admin = app.create_key("alice"), app.create_key("root", admin=True)
    marker = f"SECRET-{uuid.uuid4().hex}"
    with app.client(headers=bearer(alice)) as http:
        created = http.post("/api/sessions", json={"metadata": {"m": marker}})
        session_id = created.json()["session_id"]
        http.post("/api/chat", json={"session_id": session_id, "message": marker})
        exported = http.get(f"/api/sessions/{session_id}/export")
        deleted = http.delete(f"/api/sessions/{session_id}")
        implicit = http.post("/api/chat", json={"message": "a session made by a chat"})
    assert (created.status_code, exported.status_code, deleted.status_code) == (201, 200, 204)
    with app.client(headers=bearer(admin)) as http:
        trail = http.get("/api/audit", params={"session_id": session_id}).json()["items"]
        by_chat = http.get("/api/audit", params={"session_id": implicit.json()["session_id"]})
    assert [(e["action"], e["actor"]) for e in trail] == [
        ("session.delete", "alice"),
        ("session.export", "alice"),
        ("session.create", "alice"),
    ]
    request_ids = [r.headers["X-Request-ID"] for r in (deleted, exported, created)]
    assert [e["request_id"] for e in trail] == request_ids
    assert trail[0]["at"] >= trail[1]["at"] >= trail[2]["at"]
    assert [e["action"] for e in by_chat.json()["items"]] == ["session.create"]
    with app.db() as db:
        rows = db.execute("SELECT * FROM audit_events").fetchall()
    assert marker not in repr(rows)


def test_key_changes_are_recorded_and_the_trail_pages(make_app: Any) -> None:
    app: App = make_app(auth_mode="api_key")
    admin = app.create_key("root", admin=True)
    app.create_key("bob")
    app.keys("revoke", "--name", "bob")
    with app.client(headers=bearer(admin)) as http:
        for _ in range(3):
            http.post("/api/sessions")
        keys = http.get("/api/audit", params={"actor": "cli"}).json()["items"]
        pages, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = http.get("/api/audit", params=params).json()
            pages.append(page["items"])
            if (cursor := page["next_cursor"]) is None:
                break
        bad_cursor = http.get("/api/audit", params={"cursor": "abc"})
    assert [(e["action"], e["key_name"]) for e in keys] == [
        ("key.revoke", "bob"),
        ("key.create", "bob"),
        ("key.create_admin", "root"),
    ]
    ids = [e["id"] for page in pages for e in page]
    assert [len(page) for page in pages] == [2, 2, 2]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 6
    assert bad_cursor.status_code == 422


def test_a_cursor_past_every_id_pages_from_the_top(tenants: Any) -> None:
    """18 digits are a valid cursor; on PostgreSQL the ids are 32-bit, and such a
    cursor means the newest events, as on SQLite."""
    with tenants.client(tenants.admin) as admin:
        newest = admin.get("/api/audit", params={"limit": 1}).json()["items"]
        beyond = admin.get("/api/audit", params={"limit": 1, "cursor": "100400510340383"})
    assert beyond.status_code == 200, beyond.text
    assert beyond.json()["items"] == newest
