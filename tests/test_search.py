"""Finding a conversation (issue 22): titles, pinned and archived sessions, the
session list's filters and sorts, full-text search over titles and messages (FTS5 on
SQLite, tsvector on PostgreSQL) kept up to date by every write path, and the titles
the LLM writes after a first exchange.

The shared app serves other tests' sessions too: each test tags its own (metadata or
words no other test uses) and looks only at those.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import FakeLLM
from tests.helpers import chat, history, new_session


def tag() -> str:
    """A word no other test writes (letters only: digits would still be one word)."""
    return "zq" + "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:10])


def listed(client: httpx.Client, **params: Any) -> list[str]:
    response = client.get("/api/sessions", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return [s["session_id"] for s in response.json()["items"]]


def found(client: httpx.Client, q: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_title_pinned_and_archived_are_set_patched_and_filtered(client: httpx.Client) -> None:
    group = {"metadata.group": tag()}
    made = client.post(
        "/api/sessions", json={"metadata": {"group": group["metadata.group"]}, "title": "Plans"}
    )
    assert made.status_code == 201, made.text
    assert (made.json()["title"], made.json()["pinned"], made.json()["archived"]) == (
        "Plans",
        False,
        False,
    )
    first = made.json()["session_id"]
    second = new_session(client, metadata={"group": group["metadata.group"]})
    third = new_session(client, metadata={"group": group["metadata.group"]})

    patched = client.patch(f"/api/sessions/{second}", json={"title": "Renamed", "pinned": True})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["title"], patched.json()["pinned"]) == ("Renamed", True)
    assert client.patch(f"/api/sessions/{third}", json={"archived": True}).status_code == 200

    assert set(listed(client, **group)) == {first, second}  # archived: hidden by default
    assert listed(client, **group, archived="true") == [third]
    assert listed(client, **group, pinned="true") == [second]
    assert listed(client, **group, pinned="false") == [first]

    untitled = client.patch(f"/api/sessions/{first}", json={"title": None})
    assert untitled.json()["title"] is None
    assert client.get(f"/api/sessions/{second}").json()["title"] == "Renamed"
    for bad in ({"title": ""}, {"title": "x" * 201}, {"pinned": "maybe"}):
        response = client.patch(f"/api/sessions/{first}", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["code"] == "validation_error"


def test_q_finds_sessions_by_title_and_by_message_text(client: httpx.Client) -> None:
    word, other = tag(), tag()
    by_title = new_session(client, title=f"About {word.upper()} things")
    by_message = new_session(client)
    chat(client, session_id=by_message, message=f"Tell me about {word}-like places.")
    by_reply = new_session(client)
    chat(client, session_id=by_reply, message=f"x {other}")  # "Echo: x <other>"
    new_session(client, title="nothing here")

    assert set(listed(client, q=word)) == {by_title, by_message}
    assert set(listed(client, q=word[:6])) == {by_title, by_message}  # a word's start
    assert listed(client, q=f"{other} echo") == [by_reply]  # every word, in the reply
    assert listed(client, q=f"{word} {other}") == []
    assert listed(client, q=f"{word[1:]}") == []  # the middle of a word is not a match

    for bad in ("!!! ...", "a" * 501, " ".join(f"w{i}" for i in range(13))):
        response = client.get("/api/sessions", params={"q": bad})
        assert response.status_code == 422, bad
        assert response.json()["code"] in {"invalid_search", "validation_error"}


def test_words_in_any_script_and_syntax_characters_are_just_text(client: httpx.Client) -> None:
    word = tag()
    session = new_session(client, title=f"부산 여행 {word}")
    chat(client, session_id=session, message=f'서울에서 "quoted" AND (or) NEAR {word}*')
    assert listed(client, q="부산") == [session]
    assert [hit["session_id"] for hit in found(client, f"서울에서 {word}")] == [session] * 2
    for syntax in (f'"{word}', f"{word} AND", f"{word} OR (", f"{word}:*", f"NEAR({word}"):
        response = client.get("/api/search", params={"q": syntax})
        assert response.status_code == 200, (syntax, response.text)


def test_metadata_filters_match_strings_numbers_and_booleans(client: httpx.Client) -> None:
    group = tag()
    a = new_session(client, metadata={"g": group, "n": 42, "flag": True, "who": "ann"})
    b = new_session(client, metadata={"g": group, "n": 7, "flag": False, "who": "bob"})
    assert set(listed(client, **{"metadata.g": group})) == {a, b}
    assert listed(client, **{"metadata.g": group, "metadata.n": "42"}) == [a]
    assert listed(client, **{"metadata.g": group, "metadata.flag": "false"}) == [b]
    assert listed(client, **{"metadata.g": group, "metadata.who": "bob", "metadata.n": "42"}) == []
    bad = client.get("/api/sessions", params={"metadata.a b": "x"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_search"
    assert "metadata.a b" in bad.json()["detail"]


def test_sorts_and_orders_page_with_cursors(client: httpx.Client) -> None:
    group = {"metadata.g": tag()}
    titles = ["delta", None, "alpha", "charlie", "bravo"]
    made = [
        new_session(client, metadata={"g": group["metadata.g"]}, **({"title": t} if t else {}))
        for t in titles
    ]
    client.get(f"/api/sessions/{made[0]}")  # the first made is now the last accessed

    def walk(**params: Any) -> list[str]:
        ids, cursor = [], None
        while True:
            page = client.get(
                "/api/sessions", params={**group, "limit": 2, **params, "cursor": cursor or ""}
            ).json()
            ids += [s["session_id"] for s in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return ids

    assert walk(sort="created_at", order="asc") == made
    assert walk(sort="created_at") == made[::-1]
    assert walk()[0] == made[0]
    by_title = [made[1], made[2], made[4], made[3], made[0]]  # untitled first: ""
    assert walk(sort="title", order="asc") == by_title
    assert walk(sort="title", order="desc") == by_title[::-1]
    assert client.get("/api/sessions", params={"sort": "owner"}).status_code == 422
    wrong = client.get("/api/sessions", params={"sort": "created_at", "cursor": "bm90IG9uZQ"})
    assert wrong.json()["code"] == "invalid_cursor"


def test_search_returns_snippets_newest_first_with_paging(client: httpx.Client) -> None:
    word = tag()
    session = new_session(client, title="Snippets")
    long_text = "filler " * 40 + f"the {word.capitalize()} ferry <script>alert(1)</script>"
    chat(client, session_id=session, message=long_text)
    chat(client, session_id=session, message=f"{word}")
    hits = found(client, word, limit=2)
    assert [h["role"] for h in hits] == ["assistant", "user"]  # the newest turn first
    assert hits[0]["session_title"] == "Snippets"
    page = client.get("/api/search", params={"q": word, "limit": 2}).json()
    rest = found(client, word, cursor=page["next_cursor"])
    assert [h["role"] for h in rest] == ["assistant", "user"]
    assert rest[1]["message_id"] == history(client, session)[0]["message_id"]

    snippet = rest[1]["snippet"]
    assert snippet.startswith("…")
    assert len(snippet) < 240
    assert "<script>alert(1)</script>" in snippet  # text, as written: clients show text
    [(start, end)] = rest[1]["highlights"]
    assert snippet[start:end] == word.capitalize()
    bad = client.get("/api/search", params={"q": word, "cursor": "x"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_cursor")


def test_every_write_path_keeps_the_index(client: httpx.Client, fake_llm: FakeLLM) -> None:
    """Turns, regenerates, deletes of a message and of a session, forks, titles and
    sessions brought in whole through the /v1 door: each is found, or no longer."""
    old, new, gone, door = tag(), tag(), tag(), tag()
    session = new_session(client)
    first = chat(client, session_id=session, message="hello")
    fake_llm.script({"reply": f"a {old} reply"})
    regenerated = client.post(f"/api/messages/{first['message_id']}/regenerate").json()
    assert [h["message_id"] for h in found(client, old)] == [regenerated["message_id"]]
    fake_llm.script({"reply": f"now {new}"})
    again = client.post(f"/api/messages/{first['message_id']}/regenerate").json()
    assert len(found(client, old)) == 1  # older versions stay findable
    assert [h["message_id"] for h in found(client, new)] == [again["message_id"]]

    client.patch(f"/api/sessions/{session}", json={"title": f"t {gone}"})
    assert listed(client, q=gone) == [session]
    client.patch(f"/api/sessions/{session}", json={"title": "other"})
    assert listed(client, q=gone) == []

    fork = client.post(f"/api/sessions/{session}/fork", json={"message_id": again["message_id"]})
    assert {h["session_id"] for h in found(client, new)} == {session, fork.json()["session_id"]}
    assert client.delete(f"/api/messages/{again['message_id']}").status_code == 204
    assert [h["session_id"] for h in found(client, new)] == [fork.json()["session_id"]]
    assert client.delete(f"/api/sessions/{session}").status_code == 204
    assert found(client, old) == []

    imported = client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": f"brought {door}"}]},
    )
    assert imported.status_code == 200, imported.text
    assert [h["role"] for h in found(client, door)] == ["assistant", "user"]  # + its echo


def test_a_reply_is_found_once_it_has_ended(client: httpx.Client, fake_llm: FakeLLM) -> None:
    word = tag()
    session = new_session(client)
    fake_llm.script({"reply": f"slow {word} words here", "chunk_delay": 0.3})
    with client.stream("POST", "/api/chat/stream", json={"session_id": session, "message": "go"}):
        time.sleep(0.3)
        assert found(client, word) == []  # being generated: not yet
    deadline = time.monotonic() + 10
    while not found(client, word) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [h["role"] for h in found(client, word)] == ["assistant"]


@pytest.fixture
def titled_app(make_app: Any) -> Any:
    return make_app(auto_title="true")


def test_the_llm_titles_a_session_after_its_first_exchange(
    titled_app: Any, fake_llm: FakeLLM
) -> None:
    with titled_app.client() as http:
        session = new_session(http)
        fake_llm.script({"reply": "Hi!"}, {"reply": 'Title: "Greetings and plans."\nmore'})
        chat(http, session_id=session, message="hello there")
        title = wait_for_title(http, session)
        assert title == "Greetings and plans"
        asked = fake_llm.requests()[-1]["body"]["messages"]
        assert "User: hello there" in asked[-1]["content"]
        assert "Assistant: Hi!" in asked[-1]["content"]
        assert listed(http, q="greetings") == [session]

        chat(http, session_id=session, message="again")  # titled: nothing more is asked
        assert len(fake_llm.requests()) == 3

        kept = new_session(http)
        fake_llm.script({"reply": "ok"}, {"reply": "", "delay": 0.5})  # an empty title
        chat(http, session_id=kept, message="x")
        http.patch(f"/api/sessions/{kept}", json={"title": "Mine"})
        time.sleep(1)
        assert http.get(f"/api/sessions/{kept}").json()["title"] == "Mine"


def test_a_title_that_fails_fails_nothing(titled_app: Any, fake_llm: FakeLLM) -> None:
    with titled_app.client() as http:
        session = new_session(http)
        fake_llm.script({"reply": "fine"}, {"status": 400})
        assert chat(http, session_id=session, message="one")["content"] == "fine"
        fake_llm.script({"reply": "still fine"}, {"reply": "Second try"})
        assert chat(http, session_id=session, message="two")["content"] == "still fine"
        assert wait_for_title(http, session) == "Second try"


def test_auto_title_false_asks_for_none(client: httpx.Client, fake_llm: FakeLLM) -> None:
    session = new_session(client)
    chat(client, session_id=session, message="hello")
    time.sleep(0.3)
    assert len(fake_llm.requests()) == 1
    assert client.get(f"/api/sessions/{session}").json()["title"] is None


def wait_for_title(http: httpx.Client, session_id: str) -> str | None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        title = http.get(f"/api/sessions/{session_id}").json()["title"]
        if title:
            return str(title)
        time.sleep(0.05)
    return None


@pytest.mark.sqlite_only("the FTS5 index and its backlog are SQLite's")
def test_the_sqlite_index_stays_whole_through_the_backlog(app: Any, client: httpx.Client) -> None:
    """Messages wait in the backlog and are indexed in batches; one deleted while it
    waits and one deleted once indexed both leave the index whole and the search right."""
    word = tag()
    session = new_session(client)
    waiting = chat(client, session_id=session, message=f"{word} first")
    db = app.db()
    backlog = db.execute("SELECT count(*) FROM search_backlog").fetchone()[0]
    assert backlog >= 2 or found(client, word)  # unless the indexer's tick came between
    assert client.delete(f"/api/messages/{waiting['user_message_id']}").status_code == 204
    kept = chat(client, session_id=session, message=f"{word} second")
    assert {h["message_id"] for h in found(client, word)} == {
        kept["user_message_id"],
        kept["message_id"],
    }
    assert db.execute("SELECT count(*) FROM search_backlog").fetchone()[0] == 0
    assert client.delete(f"/api/messages/{kept['message_id']}").status_code == 204
    assert [h["message_id"] for h in found(client, word)] == [kept["user_message_id"]]
    db.execute("INSERT INTO message_fts(message_fts) VALUES ('integrity-check')")
    db.execute("INSERT INTO session_fts(session_fts) VALUES ('integrity-check')")
