"""Conversations as trees, the foundation (issue 17): every message names its parent,
every session its active leaf; databases of the previous release migrate in place,
each session becoming a chain in `seq` order."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from models.database import MIGRATIONS
from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, new_session, streaming_turn


def test_each_message_follows_the_one_before_and_the_newest_reply_is_the_leaf(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    assert client.get(f"/api/sessions/{session_id}").json()["active_leaf_id"] is None
    chat(client, session_id=session_id, message="one")
    fake_llm.script({"status": 400, "error": "bad request"})  # a failed reply chains too
    client.post("/api/chat", json={"session_id": session_id, "message": "two"})
    last = chat(client, session_id=session_id, message="three")
    stored = history(client, session_id)
    assert [m["parent_id"] for m in stored] == [None] + [m["message_id"] for m in stored[:-1]]
    assert stored[3]["status"] == "failed"
    assert client.get(f"/api/sessions/{session_id}").json()["active_leaf_id"] == last["message_id"]


def test_the_reply_being_generated_is_the_active_leaf_from_its_start(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    """A page reloaded mid-stream shows the new branch."""
    session_id = new_session(client)
    fake_llm.script({"reply": "a b c d e f", "chunk_delay": 0.2})
    with streaming_turn(client, session_id, deltas=1) as (start, events):
        session = client.get(f"/api/sessions/{session_id}").json()
        assert session["active_leaf_id"] == start["message_id"]
        list(events)
    user, reply = history(client, session_id)
    assert (user["parent_id"], reply["parent_id"]) == (None, user["message_id"])


def test_a_chat_without_a_session_and_the_export_carry_the_tree(client: httpx.Client) -> None:
    reply = chat(client, message="hello")
    exported = client.get(f"/api/sessions/{reply['session_id']}/export").json()
    assert exported["session"]["active_leaf_id"] == reply["message_id"]
    user, assistant = exported["messages"]
    assert (user["parent_id"], assistant["parent_id"]) == (None, user["message_id"])


def database_of_the_previous_release(path: Path) -> None:
    """A file at migration 0006 (the release before trees) with two sessions: one
    whose turns ended complete, failed and interrupted, one with a reply left
    `streaming` by a process that died."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0006")
    engine.dispose()
    rows: list[tuple[Any, ...]] = []
    for seq, (role, status, content) in enumerate(
        [
            ("user", "complete", "one"),
            ("assistant", "complete", "first reply"),
            ("user", "complete", "two"),
            ("assistant", "failed", ""),
            ("user", "complete", "three"),
            ("assistant", "interrupted", "cut sh"),
        ],
        start=1,
    ):
        rows.append((f"a{seq}", "sa", seq, role, content, status))
    rows += [
        ("b1", "sb", 1, "user", "hi", "complete"),
        ("b2", "sb", 2, "assistant", "par", "streaming"),
    ]
    # accessed just now: not expired by SESSION_TIMEOUT_HOURS whatever today's date
    accessed = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    with sqlite3.connect(path) as db:
        for session_id, count in (("sa", 6), ("sb", 2)):
            db.execute(
                "INSERT INTO sessions (session_id, created_at, last_accessed, metadata,"
                " system_prompt, message_count, last_seq) VALUES (?, ?, ?, '{}', NULL, ?, ?)",
                (session_id, "2026-11-28 10:00:00", accessed, count, count),
            )
        db.executemany(
            "INSERT INTO messages (message_id, session_id, seq, role, content, status,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, '2026-11-28 10:00:00')",
            rows,
        )


@pytest.mark.sqlite_only("a SQLite file written at the previous release's schema")
def test_a_database_of_the_previous_release_becomes_chains(
    tmp_path: Path, make_app: Any, fake_llm: FakeLLM
) -> None:
    workdir = tmp_path / "old"
    workdir.mkdir()
    database_of_the_previous_release(workdir / "chat.db")
    app: App = make_app(database_url=str(workdir / "chat.db"))
    assert "database schema migrated from 0006 to 0014" in app.output()
    with sqlite3.connect(workdir / "chat.db") as db:
        parents = dict(db.execute("SELECT message_id, parent_id FROM messages").fetchall())
        leaves = dict(db.execute("SELECT session_id, active_leaf_id FROM sessions").fetchall())
    assert parents == {
        "a1": None, "a2": "a1", "a3": "a2", "a4": "a3", "a5": "a4", "a6": "a5",
        "b1": None, "b2": "b1",
    }  # fmt: skip
    assert leaves == {"sa": "a6", "sb": "b2"}
    with app.client() as http:
        stored = history(http, "sb")  # the dead process's reply: interrupted at startup
        assert [(m["message_id"], m["status"]) for m in stored] == [
            ("b1", "complete"),
            ("b2", "interrupted"),
        ]
        reply = chat(http, session_id="sa", message="four")  # the next turn follows the leaf
        stored = history(http, "sa")
    assert [m["message_id"] for m in stored[:6]] == [f"a{n}" for n in range(1, 7)]
    assert stored[6]["parent_id"] == "a6"
    assert stored[7]["message_id"] == reply["message_id"]
    # the window sent: the sendable history in order (the failed reply is left out)
    sent = [(m["role"], m["content"]) for m in fake_llm.last_body()["messages"]]
    assert sent == [
        ("user", "one"),
        ("assistant", "first reply"),
        ("user", "two"),
        ("user", "three"),
        ("assistant", "cut sh"),
        ("user", "four"),
    ]


def add_second_version(app: App, session_id: str, user_message_id: str, seq: int) -> str:
    """A second reply to `user_message_id`, written beside the first as regenerate will
    write it, and made the active leaf."""
    message_id = f"v2-{uuid.uuid4().hex[:32]}"  # ids are at most 36 characters
    with app.db() as db:
        db.execute(
            "INSERT INTO messages (message_id, session_id, seq, parent_id, role, content,"
            " status, created_at) VALUES (?, ?, ?, ?, 'assistant',"
            " 'another answer to two', 'complete', '2026-11-30 00:00:00')",
            (message_id, session_id, seq, user_message_id),
        )
        db.execute(
            "UPDATE sessions SET last_seq = ?, message_count = ?,"
            " active_leaf_id = ? WHERE session_id = ?",
            (seq, seq, message_id, session_id),
        )
    return message_id


def test_the_window_and_the_history_follow_the_active_path_not_creation_order(
    app: App, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    """A second version of the last reply, written beside the first (as regenerate
    will) and made the active leaf: the history, its pages and the next turn's window
    go through it, and never through the older sibling created before it."""
    session_id, (u1, a1, u2, a2), second = two_versions_of_the_last_reply(app, client)
    path = [u1, a1, u2, second]
    stored = history(client, session_id)
    assert [m["message_id"] for m in stored] == path
    # what a UI needs for "< 2/2 >" on the reply, and nothing on the others
    places = [(m["sibling_index"], m["sibling_count"]) for m in stored]
    assert places == [(0, 1), (0, 1), (0, 1), (1, 2)]
    exported = client.get(f"/api/sessions/{session_id}/export").json()["messages"]
    assert {m["message_id"]: m["sibling_index"] for m in exported if m["sibling_count"] == 2} == {
        a2: 0,
        second: 1,
    }
    newest = client.get(f"/api/sessions/{session_id}/messages", params={"limit": 2}).json()
    assert [m["message_id"] for m in newest["items"]] == path[2:]
    older = history(client, session_id, limit=2, before=newest["next_cursor"])
    assert [m["message_id"] for m in older] == path[:2]
    chat(client, session_id=session_id, message="three")
    sent = [m["content"] for m in fake_llm.last_body()["messages"]]
    assert sent == ["one", "Echo: one", "two", "another answer to two", "three"]
    assert history(client, session_id)[-2]["parent_id"] == second
    assert a2 not in [m["message_id"] for m in history(client, session_id)]


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["message_id"] for m in messages]


def two_versions_of_the_last_reply(
    app: App, client: httpx.Client
) -> tuple[str, tuple[str, ...], str]:
    """A session of two turns (u1 a1 u2 a2) and a second version of a2, the leaf."""
    session_id = new_session(client)
    chat(client, session_id=session_id, message="one")
    chat(client, session_id=session_id, message="two")
    path = tuple(ids(history(client, session_id)))
    return session_id, path, add_second_version(app, session_id, path[2], seq=5)


def test_select_moves_the_active_path_to_a_version_and_down_to_its_newest_message(
    app: App, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, (u1, a1, u2, a2), second = two_versions_of_the_last_reply(app, client)

    session = client.post(f"/api/messages/{a2}/select").json()  # back to the first version
    assert session["active_leaf_id"] == a2
    assert ids(history(client, session_id)) == [u1, a1, u2, a2]
    chat(client, session_id=session_id, message="three")  # continues the first version
    sent = [m["content"] for m in fake_llm.last_body()["messages"]]
    assert sent == ["one", "Echo: one", "two", "Echo: two", "three"]
    u3, a3 = ids(history(client, session_id))[-2:]

    # the second version again: it has nothing below it, so it is the leaf
    assert client.post(f"/api/messages/{second}/select").json()["active_leaf_id"] == second
    assert ids(history(client, session_id)) == [u1, a1, u2, second]
    # an older message: down to the newest message below it, the third turn's reply
    assert client.post(f"/api/messages/{u2}/select").json()["active_leaf_id"] == a3
    assert ids(history(client, session_id)) == [u1, a1, u2, a2, u3, a3]

    unknown = client.post("/api/messages/no-such-message/select")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "message_not_found")


def test_select_while_a_reply_streams_does_not_stop_it(
    app: App, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    """A turn continues the second version of the first reply; meanwhile the user
    goes back to the first version: the reply streams on and is stored whole, on its
    own branch, while the active path stays where the user put it."""
    session_id = new_session(client)
    first = chat(client, session_id=session_id, message="one")
    add_second_version(app, session_id, first["user_message_id"], seq=3)
    fake_llm.script({"reply": "a b c d e f", "chunk_delay": 0.1})
    with streaming_turn(client, session_id, deltas=1) as (start, events):
        selected = client.post(f"/api/messages/{first['message_id']}/select")
        assert selected.json()["active_leaf_id"] == first["message_id"]
        rest = list(events)
    assert rest[-1]["type"] == "done"
    exported = client.get(f"/api/sessions/{session_id}/export").json()["messages"]
    reply = next(m for m in exported if m["message_id"] == start["message_id"])
    assert (reply["status"], reply["content"]) == ("complete", "a b c d e f")
    assert ids(history(client, session_id)) == [first["user_message_id"], first["message_id"]]


def test_the_tree_lists_every_branch_in_creation_order_a_page_at_a_time(
    app: App, client: httpx.Client
) -> None:
    session_id = new_session(client)
    chat(client, session_id=session_id, message="one " + "x" * 100)
    chat(client, session_id=session_id, message="two")
    u1, a1, u2, a2 = ids(history(client, session_id))
    second = add_second_version(app, session_id, u2, seq=5)
    url = f"/api/sessions/{session_id}/tree"
    first_page = client.get(url, params={"limit": 3}).json()
    nodes = first_page["items"]
    assert [n["message_id"] for n in nodes] == [u1, a1, u2]
    assert set(nodes[0]) == {"message_id", "parent_id", "role", "status", "created_at", "preview"}
    assert nodes[0]["preview"] == ("one " + "x" * 100)[:80]
    assert (nodes[1]["parent_id"], nodes[1]["role"], nodes[1]["status"]) == (
        u1,
        "assistant",
        "complete",
    )
    rest = client.get(url, params={"limit": 3, "after": first_page["next_cursor"]}).json()
    assert [n["message_id"] for n in rest["items"]] == [a2, second]  # both versions
    assert [n["parent_id"] for n in rest["items"]] == [u2, u2]
    assert rest["next_cursor"] is None
    bad = client.get(url, params={"after": "no-such-message"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")
    assert client.get(url, params={"limit": 1001}).status_code == 422


def test_the_history_of_another_version_with_leaf(app: App, client: httpx.Client) -> None:
    session_id, (u1, a1, u2, a2), second = two_versions_of_the_last_reply(app, client)
    assert ids(history(client, session_id, leaf=a2)) == [u1, a1, u2, a2]
    assert ids(history(client, session_id, leaf=u2)) == [u1, a1, u2]
    assert ids(history(client, session_id)) == [u1, a1, u2, second]  # still the active one
    assert client.get(f"/api/sessions/{session_id}").json()["active_leaf_id"] == second
    other = chat(client, message="elsewhere")["message_id"]  # another session's message
    bad = client.get(f"/api/sessions/{session_id}/messages", params={"leaf": other})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_leaf")


def test_deleting_a_message_deletes_its_subtree_and_moves_the_active_path_off_it(
    app: App, client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id, (u1, a1, u2, a2), second = two_versions_of_the_last_reply(app, client)

    assert client.delete(f"/api/messages/{second}").status_code == 204  # the active end
    assert ids(history(client, session_id)) == [u1, a1, u2, a2]  # the version left
    session = client.get(f"/api/sessions/{session_id}").json()
    assert (session["active_leaf_id"], session["message_count"]) == (a2, 4)

    assert client.delete(f"/api/messages/{u2}").status_code == 204  # u2 and its reply
    assert ids(history(client, session_id)) == [u1, a1]  # nothing left below a1: a1
    tree = client.get(f"/api/sessions/{session_id}/tree").json()["items"]
    assert [n["message_id"] for n in tree] == [u1, a1]
    assert client.get(f"/api/sessions/{session_id}").json()["message_count"] == 2
    chat(client, session_id=session_id, message="three")  # the next turn follows a1
    assert [m["content"] for m in fake_llm.last_body()["messages"]] == ["one", "Echo: one", "three"]

    again = client.delete(f"/api/messages/{u2}")
    assert (again.status_code, again.json()["code"]) == (404, "message_not_found")


def test_deleting_off_the_active_path_leaves_it_and_the_first_message_empties_it(
    app: App, client: httpx.Client
) -> None:
    session_id, (u1, a1, u2, a2), second = two_versions_of_the_last_reply(app, client)
    assert client.delete(f"/api/messages/{a2}").status_code == 204  # the other version
    assert ids(history(client, session_id)) == [u1, a1, u2, second]
    assert client.delete(f"/api/messages/{u1}").status_code == 204  # everything
    assert history(client, session_id) == []
    session = client.get(f"/api/sessions/{session_id}").json()
    assert (session["active_leaf_id"], session["message_count"]) == (None, 0)
    assert chat(client, session_id=session_id, message="again")["content"] == "Echo: again"
    assert history(client, session_id)[0]["parent_id"] is None


def test_a_subtree_with_a_reply_being_generated_is_not_deleted(
    client: httpx.Client, fake_llm: FakeLLM
) -> None:
    session_id = new_session(client)
    fake_llm.script({"reply": "a b c d e f", "chunk_delay": 0.1})
    with streaming_turn(client, session_id, deltas=1) as (start, events):
        refused = client.delete(f"/api/messages/{start['user_message_id']}")
        assert refused.status_code == 409
        assert refused.json()["code"] == "turn_in_progress"
        assert refused.json()["message_id"] == start["message_id"]
        rest = list(events)
    assert rest[-1]["type"] == "done"
    assert len(history(client, session_id)) == 2
    assert client.delete(f"/api/messages/{start['user_message_id']}").status_code == 204
