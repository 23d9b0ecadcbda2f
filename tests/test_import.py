"""POST /api/sessions/import (issue 22): this service's export and ChatGPT's data
export come in as sessions with their trees, each conversation whole or not at all,
a malformed one named while the rest go in, limits held, re-imports not duplicated."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import httpx

from models.imports import CHATGPT_EXAMPLE
from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, new_session


def imported(client: httpx.Client, body: Any, status: int = 200) -> dict[str, Any]:
    response = client.post("/api/sessions/import", json=body)
    assert response.status_code == status, response.text
    return dict(response.json())


def node(key: str, parent: str | None, role: str | None, text: Any, at: float) -> dict[str, Any]:
    message = None
    if role is not None:
        parts = text if isinstance(text, list) else [text]
        message = {
            "id": key,
            "author": {"role": role},
            "create_time": at,
            "content": {"content_type": "text", "parts": parts},
        }
    return {"id": key, "parent": parent, "children": [], "message": message}


def chatgpt_conversation(conversation_id: str, title: str) -> dict[str, Any]:
    """A tree: a hidden system message, a question answered twice (the second answer
    is where the user left off), a browsing tool's output, an image part."""
    nodes = [
        node("root", None, None, None, 0),
        node("sys", "root", "system", "", 100),
        node("q1", "sys", "user", ["Where is Busan?", {"asset_pointer": "file-1"}], 101),
        node("a1", "q1", "assistant", "In the south-east of Korea.", 102),
        node("a1b", "q1", "assistant", "On the south-east coast.", 103),
        node("tool", "a1b", "tool", "browsing output", 104),
        node("q2", "tool", "user", "How far from Seoul?", 105),
        node("a2", "q2", "assistant", "About 325 km.", 106),
    ]
    mapping = {n["id"]: n for n in nodes}
    for n in nodes:
        if n["parent"]:
            mapping[n["parent"]]["children"].append(n["id"])
    return {
        "id": conversation_id,
        "conversation_id": conversation_id,
        "title": title,
        "create_time": 1700000000.5,
        "update_time": 1700000100.0,
        "mapping": mapping,
        "current_node": "a2",
    }


def test_the_documented_examples_import_as_shown(client: httpx.Client) -> None:
    """Each example of /openapi.json (what Swagger UI's "Try it out" sends; the schema
    leaves out its nulls) comes in; the fuzzer sent them and found one did not."""
    operation = client.get("/openapi.json").json()["paths"]["/api/sessions/import"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == {"chatgpt", "export"}
    for name, example in examples.items():
        items = imported(client, example["value"])["items"]
        assert [item["status"] for item in items] == ["imported"], (name, items)


def test_chatgpt_export_comes_in_with_its_tree(client: httpx.Client) -> None:
    good = chatgpt_conversation("c-1", "Busan trip")
    broken = chatgpt_conversation("c-2", "Broken one")
    broken["mapping"]["a2"]["parent"] = "nowhere"
    report = imported(client, [good, broken, copy.deepcopy(CHATGPT_EXAMPLE)])
    assert (report["imported"], report["duplicates"], report["invalid"]) == (2, 0, 1)
    first, bad, example = report["items"]
    assert (first["status"], first["source"], first["messages"]) == ("imported", "chatgpt", 5)
    assert bad["status"] == "invalid"
    assert bad["session_id"] is None
    assert "conversation 1" in bad["error"]
    assert "'c-2'" in bad["error"]
    assert "Broken one" in bad["error"]
    assert "'nowhere'" in bad["error"]

    session = client.get(f"/api/sessions/{first['session_id']}").json()
    assert session["title"] == "Busan trip"
    assert session["created_at"].startswith("2023-11-14T22:13:20")
    assert session["metadata"] == {"imported_from": "chatgpt"}
    path = history(client, first["session_id"])
    assert [(m["role"], m["content"]) for m in path] == [
        ("user", "Where is Busan?"),
        ("assistant", "On the south-east coast."),
        ("user", "How far from Seoul?"),
        ("assistant", "About 325 km."),
    ]
    assert [(m["sibling_index"], m["sibling_count"]) for m in path][1] == (1, 2)
    tree = client.get(f"/api/sessions/{first['session_id']}/tree").json()["items"]
    assert len(tree) == 5
    assert [
        h["session_id"] for h in client.get("/api/search", params={"q": "325 km"}).json()["items"]
    ] == [first["session_id"]]
    assert example["status"] == "imported"


def test_a_reimport_finds_what_came_in_before(client: httpx.Client) -> None:
    conversation = chatgpt_conversation("c-again", "Twice")
    once = imported(client, [conversation])
    twice = imported(client, [conversation])
    assert twice["duplicates"] == 1
    assert twice["items"][0]["session_id"] == once["items"][0]["session_id"]
    assert twice["items"][0]["messages"] == 5
    changed = copy.deepcopy(conversation)
    changed["mapping"]["a2"]["message"]["content"]["parts"] = ["About 320 km."]
    third = imported(client, [changed])
    assert third["imported"] == 1  # the conversation changed since: a new session
    assert third["items"][0]["session_id"] != once["items"][0]["session_id"]
    client.delete(f"/api/sessions/{once['items'][0]['session_id']}")
    assert imported(client, [conversation])["imported"] == 1  # deleted: it comes in again


def test_a_reimport_after_the_first_copy_expired_comes_in_anew(make_app: Any) -> None:
    """A duplicate must name a session the caller can open: an expired copy (not yet
    purged) is replaced, not reported."""
    app: App = make_app(session_timeout_hours=1 / 3600, session_purge_interval_seconds=600)
    conversation = chatgpt_conversation("c-expired", "Old")
    with app.client() as http:
        first = imported(http, [conversation])["items"][0]["session_id"]
        assert imported(http, [conversation])["duplicates"] == 1  # still alive: found
        time.sleep(1.2)  # expired, and the purge is ten minutes away
        again = imported(http, [conversation])
        assert (again["imported"], again["duplicates"]) == (1, 0)
        fresh = again["items"][0]["session_id"]
        assert fresh != first
        assert again["items"][0]["messages"] == 5
        assert http.get(f"/api/sessions/{fresh}").status_code == 200
        assert len(history(http, fresh)) == 4  # the path where the user left off
    with app.db() as db:
        left = db.execute("SELECT session_id FROM sessions WHERE session_id = ?", (first,))
        assert left.fetchone() is None  # the expired copy went, not kept beside it


def test_our_export_comes_back_as_a_copy(client: httpx.Client, fake_llm: FakeLLM) -> None:
    source = new_session(client, system_prompt="Be brief.", metadata={"k": "v"}, title="Mine")
    first = chat(client, session_id=source, message="one")
    fake_llm.script({"reply": "another one"})
    client.post(f"/api/messages/{first['message_id']}/regenerate")
    chat(client, session_id=source, message="two")
    export = client.get(f"/api/sessions/{source}/export").json()

    report = imported(client, export)
    item = report["items"][0]
    assert (item["status"], item["source"], item["source_id"], item["messages"]) == (
        "imported",
        "export",
        source,
        5,
    )
    copy_id = item["session_id"]
    session = client.get(f"/api/sessions/{copy_id}").json()
    assert (session["title"], session["system_prompt"], session["metadata"]) == (
        "Mine",
        "Be brief.",
        {"k": "v"},
    )
    original, copied = history(client, source), history(client, copy_id)
    strip = ("message_id", "session_id", "parent_id", "created_at")
    assert [{k: v for k, v in m.items() if k not in strip} for m in copied] == [
        {k: v for k, v in m.items() if k not in strip} for m in original
    ]
    assert not {m["message_id"] for m in copied} & {m["message_id"] for m in original}
    chat(client, session_id=copy_id, message="three")  # a session like any other
    assert imported(client, export)["duplicates"] == 1


def test_what_cannot_go_in_is_refused_clearly(client: httpx.Client) -> None:
    nothing = client.post("/api/sessions/import", json={"hello": "world"})
    assert (nothing.status_code, nothing.json()["code"]) == (422, "invalid_import")
    assert "neither an export" in nothing.json()["detail"]
    bodies: list[Any] = [[], "text", 42, {"conversations": []}]
    for body in bodies:
        response = client.post("/api/sessions/import", json=body)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_import"), body
    surrogate = chatgpt_conversation("c-s", "Bad text")
    raw = json.dumps([surrogate]).replace("About 325 km.", "\\ud800")
    response = client.post(
        "/api/sessions/import", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "message 'a2'" in response.json()["detail"]
    assert "surrogate" in response.json()["detail"]
    named_badly = json.dumps([chatgpt_conversation("\ud800", "t" * 500)])  # \ud800 as JSON
    response = client.post(
        "/api/sessions/import", content=named_badly, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text  # it goes in; its report is text
    item = response.json()["items"][0]
    assert (item["source_id"], len(item["title"])) == ("?", 200)
    nul_title = chatgpt_conversation("c-n", "a\u0000b")
    assert "the title contains a NUL" in imported(client, [nul_title], 422)["detail"]
    cycle = chatgpt_conversation("c-c", "Circle")
    cycle["mapping"]["q1"]["parent"] = "a2"
    assert "circle" in imported(client, [cycle], 422)["detail"]
    unsupported = client.post(
        "/api/sessions/import", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert unsupported.status_code == 415


def test_limits_hold(make_app: Any) -> None:
    app = make_app(max_import_messages=4, max_import_bytes=200_000, max_body_bytes=2048)
    with app.client() as http:
        report = imported(http, [chatgpt_conversation("c-big", "Five"), CHATGPT_EXAMPLE])
        assert report["items"][0]["status"] == "invalid"
        assert "over the 4 an import takes" in report["items"][0]["error"]
        assert report["items"][1]["status"] == "imported"
        # Larger than MAX_BODY_BYTES, under MAX_IMPORT_BYTES: the import's own limit.
        long_one = chatgpt_conversation("c-long", "Long")
        long_one["mapping"]["a2"]["message"]["content"]["parts"] = ["word " * 2000]
        del long_one["mapping"]["a1"]
        long_one["mapping"]["q1"]["children"] = ["a1b"]
        assert imported(http, [long_one])["imported"] == 1
        too_big = http.post("/api/sessions/import", json=[{"mapping": {"x": "y" * 250_000}}])
        assert (too_big.status_code, too_big.json()["code"]) == (413, "payload_too_large")
        assert "MAX_IMPORT_BYTES (200000 bytes)" in too_big.json()["detail"]
        other = http.post("/api/sessions", json={"metadata": {"x": "y" * 3000}})
        assert other.status_code == 413  # every other route keeps MAX_BODY_BYTES
