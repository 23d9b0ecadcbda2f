"""Isolation: another key's session is exactly as absent as a missing one, on every
route. The tables below hold one case per route of the OpenAPI schema and per
WebSocket route; `test_every_route_has_an_isolation_case` fails the suite when a
route is added without one.

Bob (a second key) probes Alice's session and reply, then the same routes with ids
that never existed: both answers must be the same 404, id aside. Afterwards Alice's
session is checked untouched, and the fake LLM unasked.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from fastapi.routing import APIWebSocketRoute
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import api
from tests.conftest import FakeLLM, Tenants
from tests.fake_llm import MODEL
from tests.helpers import chat, history, new_session, read_stream, streaming_turn
from tests.test_openai_chat import HELLO, sdk

Probe = Callable[[httpx.Client, "Ids"], list[httpx.Response]]
OPENAI_HELLO: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
SLOW_REPLY = {"chunks": [f"w{n} " for n in range(40)], "chunk_delay": 0.05}


def one(method: str, path: str, **kwargs: Any) -> Probe:
    """A probe sending one request; {s}, {m} and {p} stand for the session, message and
    profile id."""

    def probe(http: httpx.Client, ids: Ids) -> list[httpx.Response]:
        url = path.format(s=ids.session_id, m=ids.reply_id, p=ids.profile_id)
        body = kwargs.get("json")
        if body is not None:
            text = json.dumps(body).replace("{s}", ids.session_id).replace("{m}", ids.reply_id)
            body = json.loads(text.replace("{p}", ids.profile_id))
        params = {k: v.format(s=ids.session_id) for k, v in kwargs.get("params", {}).items()}
        headers = {k: v.format(s=ids.session_id) for k, v in kwargs.get("headers", {}).items()}
        return [http.request(method, url, json=body, params=params, headers=headers)]

    return probe


def both(*probes: Probe) -> Probe:
    def probe(http: httpx.Client, ids: Ids) -> list[httpx.Response]:
        return [response for p in probes for response in p(http, ids)]

    return probe


# Routes that take a session or message id: 404 for another key's, as for a missing one.
NOT_FOUND: dict[tuple[str, str], Probe] = {
    ("get", "/api/sessions/{session_id}"): one("GET", "/api/sessions/{s}"),
    ("patch", "/api/sessions/{session_id}"): one(
        "PATCH", "/api/sessions/{s}", json={"metadata": {"owner": "bob"}, "system_prompt": "x"}
    ),
    ("delete", "/api/sessions/{session_id}"): one("DELETE", "/api/sessions/{s}"),
    ("get", "/api/sessions/{session_id}/messages"): both(
        one("GET", "/api/sessions/{s}/messages"),
        one("GET", "/api/sessions/{s}/messages", params={"before": "{s}"}),
    ),
    ("get", "/api/sessions/{session_id}/export"): one("GET", "/api/sessions/{s}/export"),
    ("get", "/api/sessions/{session_id}/tree"): both(
        one("GET", "/api/sessions/{s}/tree"),
        one("GET", "/api/sessions/{s}/tree", params={"after": "{s}"}),
    ),
    ("get", "/api/sessions/{session_id}/summaries"): both(
        one("GET", "/api/sessions/{s}/summaries"),
        one("GET", "/api/sessions/{s}/summaries", params={"limit": "1"}),
    ),
    ("get", "/api/sessions/{session_id}/status"): one("GET", "/api/sessions/{s}/status"),
    ("get", "/api/profiles/{profile_id}"): one("GET", "/api/profiles/{p}"),
    ("patch", "/api/profiles/{profile_id}"): one(
        "PATCH", "/api/profiles/{p}", json={"name": "bob's now", "system_prompt": "x"}
    ),
    ("delete", "/api/profiles/{profile_id}"): one("DELETE", "/api/profiles/{p}"),
    ("post", "/api/sessions/{session_id}/stop"): one("POST", "/api/sessions/{s}/stop"),
    ("post", "/api/messages/{message_id}/cancel"): one("POST", "/api/messages/{m}/cancel"),
    ("post", "/api/messages/{message_id}/select"): one("POST", "/api/messages/{m}/select"),
    ("delete", "/api/messages/{message_id}"): one("DELETE", "/api/messages/{m}"),
    ("get", "/api/messages/{message_id}/context"): one("GET", "/api/messages/{m}/context"),
    ("post", "/api/messages/{message_id}/regenerate"): one(
        "POST", "/api/messages/{m}/regenerate", json={"temperature": 0.5}
    ),
    ("post", "/api/messages/{message_id}/regenerate/stream"): one(
        "POST", "/api/messages/{m}/regenerate/stream"
    ),
    ("post", "/api/sessions/{session_id}/fork"): one(
        "POST", "/api/sessions/{s}/fork", json={"message_id": "{s}"}
    ),
    ("get", "/api/messages/{message_id}/stream"): both(
        one("GET", "/api/messages/{m}/stream"),
        one("GET", "/api/messages/{m}/stream", headers={"Last-Event-ID": "1"}),
    ),
    ("post", "/api/chat"): one("POST", "/api/chat", json={"session_id": "{s}", "message": "hi"}),
    ("post", "/api/chat/stream"): one(
        "POST", "/api/chat/stream", json={"session_id": "{s}", "message": "hi"}
    ),
    ("get", "/api/chat/stream"): both(
        one("GET", "/api/chat/stream", params={"session_id": "{s}", "message": "hi"}),
        one(  # EventSource's reconnect: resumes the session's newest reply
            "GET",
            "/api/chat/stream",
            params={"session_id": "{s}", "message": "hi"},
            headers={"Last-Event-ID": "1"},
        ),
    ),
    ("post", "/v1/chat/completions"): both(
        one("POST", "/v1/chat/completions", json=OPENAI_HELLO, headers={"X-Session-Id": "{s}"}),
        one(
            "POST",
            "/v1/chat/completions",
            json=OPENAI_HELLO | {"stream": True, "metadata": {"session_id": "{s}"}},
        ),
    ),
    ("post", "/v1/responses"): both(
        one("POST", "/v1/responses", json={"input": "hi", "previous_response_id": "resp_{m}"}),
        one("POST", "/v1/responses", json={"input": "hi", "conversation": "{s}"}),
    ),
    ("get", "/v1/responses/{response_id}"): both(
        one("GET", "/v1/responses/resp_{m}"),
        one("GET", "/v1/responses/resp_{m}", params={"stream": "true"}),
    ),
    ("post", "/v1/responses/{response_id}/cancel"): one("POST", "/v1/responses/resp_{m}/cancel"),
    ("delete", "/v1/responses/{response_id}"): one("DELETE", "/v1/responses/resp_{m}"),
    ("get", "/v1/responses/{response_id}/input_items"): one(
        "GET", "/v1/responses/resp_{m}/input_items"
    ),
    ("get", "/v1/conversations/{conversation_id}"): one("GET", "/v1/conversations/{s}"),
    ("post", "/v1/conversations/{conversation_id}"): one(
        "POST", "/v1/conversations/{s}", json={"metadata": {"owner": "bob"}}
    ),
    ("delete", "/v1/conversations/{conversation_id}"): one("DELETE", "/v1/conversations/{s}"),
    ("get", "/v1/conversations/{conversation_id}/items"): both(
        one("GET", "/v1/conversations/{s}/items"),
        one("GET", "/v1/conversations/{s}/items", params={"order": "asc"}),
    ),
    ("post", "/v1/conversations/{conversation_id}/items"): one(
        "POST", "/v1/conversations/{s}/items", json={"items": [{"role": "user", "content": "x"}]}
    ),
    ("get", "/v1/conversations/{conversation_id}/items/{item_id}"): one(
        "GET", "/v1/conversations/{s}/items/msg_{m}"
    ),
    ("delete", "/v1/conversations/{conversation_id}/items/{item_id}"): one(
        "DELETE", "/v1/conversations/{s}/items/msg_{m}"
    ),
}
# Routes without an id: each has its own test below, named here.
OWN_TEST = {
    ("get", "/api/sessions"): "test_the_list_shows_only_the_callers_sessions",
    ("get", "/api/search"): "test_search_finds_only_the_callers_messages",
    ("post", "/api/sessions"): "test_creating_with_anothers_idempotency_key_makes_a_new_session",
    ("post", "/api/sessions/import"): "test_an_import_is_its_importers_only",
    ("get", "/api/audit"): "test_the_audit_trail_is_for_admin_keys_only",
    ("get", "/metrics"): "test_metrics_are_for_admin_keys_only",
    ("get", "/api/profiles"): "test_profiles_are_listed_and_used_by_their_owner_only",
    ("post", "/api/profiles"): "test_profiles_are_listed_and_used_by_their_owner_only",
    ("get", "/api/health"): "test_health_routes_carry_no_session_data",
    ("get", "/api/health/live"): "test_health_routes_carry_no_session_data",
    ("get", "/api/health/ready"): "test_health_routes_carry_no_session_data",
    ("get", "/v1/models"): "test_models_name_only_the_callers_profiles",
    ("post", "/v1/conversations"): "test_a_new_conversation_is_its_creators_only",
}
WEBSOCKET_ROUTES = {"/ws/{session_id}": "test_websocket_to_anothers_session_is_a_missing_one"}


@dataclass(frozen=True)
class Ids:
    """The ids a probe names: Alice's, or ids that never existed."""

    session_id: str
    reply_id: str
    profile_id: str

    @classmethod
    def missing(cls) -> Ids:
        return cls(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))


@dataclass(frozen=True)
class AliceSession(Ids):
    snapshot: dict[str, Any]


@pytest.fixture(scope="module")
def alice(tenants: Tenants) -> Iterator[AliceSession]:
    with tenants.client(tenants.alice) as http:
        session_id = new_session(http, metadata={"secret": "alice's"}, system_prompt="Be Alice")
        reply_id = chat(http, session_id=session_id, message="my secret plan")["message_id"]
        profile = http.post("/api/profiles", json={"name": "alice's", "system_prompt": "secret"})
        profile_id = profile.json()["profile_id"]
        http.patch(f"/api/sessions/{session_id}", json={"profile_id": profile_id})
        yield AliceSession(session_id, reply_id, profile_id, _snapshot(http, session_id))


def _snapshot(http: httpx.Client, session_id: str) -> dict[str, Any]:
    session = http.get(f"/api/sessions/{session_id}").json()
    session.pop("last_accessed")
    return {"session": session, "messages": history(http, session_id)}


def test_every_route_has_an_isolation_case(tenants: Tenants) -> None:
    with tenants.client(None) as http:
        schema = http.get("/openapi.json").json()
    routes = {(method, path) for path, item in schema["paths"].items() for method in item}
    covered = set(NOT_FOUND) | set(OWN_TEST)
    assert not routes - covered, f"routes without an isolation test: {routes - covered}"
    assert not covered - routes, f"isolation cases of routes that are gone: {covered - routes}"
    for name in set(OWN_TEST.values()) | set(WEBSOCKET_ROUTES.values()):
        assert callable(globals().get(name)), f"{name} is named but does not exist"
    assert websocket_routes() == set(WEBSOCKET_ROUTES)
    print(f"isolation matrix: {len(routes & covered)}/{len(routes)} HTTP routes")


def websocket_routes() -> set[str]:
    """Every WebSocket route of every router in api/ (OpenAPI does not list them)."""
    found = set()
    for module_info in pkgutil.iter_modules(api.__path__):
        module = importlib.import_module(f"api.{module_info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", []):
            if isinstance(route, APIWebSocketRoute):
                found.add(route.path)
    return found


@pytest.mark.parametrize("route", sorted(NOT_FOUND), ids=lambda r: f"{r[0]} {r[1]}")
def test_anothers_session_is_exactly_a_missing_one(
    tenants: Tenants, alice: AliceSession, fake_llm: FakeLLM, route: tuple[str, str]
) -> None:
    probe = NOT_FOUND[route]
    missing = Ids.missing()
    with tenants.client(tenants.bob) as bob:
        theirs = probe(bob, alice)
        absent = probe(bob, missing)
    for got, expected in zip(theirs, absent, strict=True):
        assert got.status_code == 404, (route, got.status_code, got.text)
        assert expected.status_code == 404, (route, expected.text)
        assert _without_ids(got.json(), alice) == _without_ids(expected.json(), missing)
    assert fake_llm.requests() == []


def _without_ids(body: dict[str, Any], ids: Ids) -> dict[str, Any]:
    """The body with the ids it names blanked (ours, or the /v1 door's OpenAI shape)."""
    text_of = body.get("error", body)
    key = "message" if "error" in body else "detail"
    body.pop("request_id", None)
    for named in (ids.session_id, ids.reply_id, ids.profile_id):
        text_of[key] = text_of[key].replace(named, "ID")
    return body


def test_websocket_to_anothers_session_is_a_missing_one(
    tenants: Tenants, alice: AliceSession
) -> None:
    base = tenants.app.url.replace("http", "ws", 1)
    bearer = {"Authorization": f"Bearer {tenants.bob}"}
    answers = []
    for session_id in (alice.session_id, str(uuid.uuid4())):
        with connect(f"{base}/ws/{session_id}", additional_headers=bearer) as socket:
            event = json.loads(socket.recv(timeout=10))
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)
        assert closed.value.rcvd is not None
        answers.append((event["type"], event["data"]["code"], closed.value.rcvd.code))
    assert answers[0] == answers[1] == ("error", "session_not_found", 4404)


def test_anothers_live_turn_cannot_be_stopped_followed_or_joined(
    tenants: Tenants, fake_llm: FakeLLM
) -> None:
    """The live path (a turn generating in this process) checks the owner too."""
    with tenants.client(tenants.alice) as http, tenants.client(tenants.bob) as bob:
        session_id = new_session(http)
        fake_llm.script(SLOW_REPLY)
        with streaming_turn(http, session_id, deltas=2) as (start, events):
            reply_id = start["message_id"]
            assert bob.post(f"/api/sessions/{session_id}/stop").status_code == 404
            assert bob.post(f"/api/messages/{reply_id}/cancel").status_code == 404
            assert bob.get(f"/api/sessions/{session_id}/status").status_code == 404
            assert bob.get(f"/api/messages/{reply_id}/stream").status_code == 404
            joined = bob.post("/api/chat", json={"session_id": session_id, "message": "me too"})
            assert joined.status_code == 404  # not 409: that would say the session exists
            rest = list(events)
        assert rest[-1]["type"] == "done"
        assert rest[-1]["finish_reason"] == "stop"
        assert history(http, session_id)[-1]["status"] == "complete"


def test_anothers_message_as_a_branch_point_is_a_missing_one(
    tenants: Tenants, alice: AliceSession, fake_llm: FakeLLM
) -> None:
    """In Bob's own session, Alice's message ids (as parent_id, edit_of, a fork's
    message_id, a regenerate over his socket) answer exactly as ids that never existed."""
    missing = str(uuid.uuid4())
    with tenants.client(tenants.bob) as bob:
        own = new_session(bob)
        answers = []
        for message_id in (alice.reply_id, missing):
            turn = {"session_id": own, "message": "hi"}
            answers.append(
                [
                    bob.post("/api/chat", json=turn | {"parent_id": message_id}),
                    bob.post("/api/chat", json=turn | {"edit_of": message_id}),
                    bob.post(f"/api/sessions/{own}/fork", json={"message_id": message_id}),
                ]
            )
        for theirs, absent in zip(*answers, strict=True):
            assert theirs.status_code == absent.status_code == 422
            got, expected = theirs.json(), absent.json()
            assert got["detail"].replace(alice.reply_id, "ID") == expected["detail"].replace(
                missing, "ID"
            )
            assert got["code"] == expected["code"]
        base = tenants.app.url.replace("http", "ws", 1)
        bearer = {"Authorization": f"Bearer {tenants.bob}"}
        with connect(f"{base}/ws/{own}", additional_headers=bearer) as socket:
            socket.recv(timeout=10)
            codes = []
            for message_id in (alice.reply_id, missing):
                socket.send(json.dumps({"type": "regenerate", "message_id": message_id}))
                codes.append(json.loads(socket.recv(timeout=10))["data"]["code"])
        assert codes == ["message_not_found", "message_not_found"]
    assert fake_llm.requests() == []
    with tenants.client(tenants.alice) as http:
        assert _snapshot(http, alice.session_id) == alice.snapshot


def test_the_list_shows_only_the_callers_sessions(tenants: Tenants, alice: AliceSession) -> None:
    with tenants.client(tenants.bob) as bob:
        own = new_session(bob)
        listed = {
            s["session_id"] for s in bob.get("/api/sessions", params={"limit": 100}).json()["items"]
        }
    assert own in listed
    assert alice.session_id not in listed
    with tenants.client(tenants.admin) as admin:
        everyone = admin.get("/api/sessions", params={"limit": 100}).json()["items"]
        owners = {s["session_id"]: s["owner"] for s in everyone}
        # Admin keys may see (and act on) every session.
        assert admin.get(f"/api/sessions/{alice.session_id}").status_code == 200
    assert owners[alice.session_id] == "alice"
    assert owners[own] == "bob"


def test_search_finds_only_the_callers_messages(tenants: Tenants, alice: AliceSession) -> None:
    """Alice's words are found by Alice and by an admin key, never by Bob: neither
    her messages (GET /api/search) nor her session (the list's `q`)."""
    with tenants.client(tenants.bob) as bob:
        own = new_session(bob, metadata={"secret": "alice's"})
        chat(bob, session_id=own, message="my secret plan too")
        found = bob.get("/api/search", params={"q": "secret plan"}).json()["items"]
        listed = bob.get("/api/sessions", params={"q": "secret"}).json()["items"]
        by_metadata = bob.get("/api/sessions", params={"metadata.secret": "alice's"}).json()
    assert {hit["session_id"] for hit in found} == {own}
    assert [s["session_id"] for s in listed] == [own]
    assert [s["session_id"] for s in by_metadata["items"]] == [own]
    with tenants.client(tenants.alice) as http:
        mine = {
            hit["session_id"]
            for hit in http.get("/api/search", params={"q": "secret"}).json()["items"]
        }
    assert alice.session_id in mine
    assert own not in mine
    with tenants.client(tenants.admin) as admin:
        everyone = admin.get("/api/search", params={"q": "secret", "limit": 100}).json()
    assert {alice.session_id, own} <= {hit["session_id"] for hit in everyone["items"]}


def test_an_import_is_its_importers_only(tenants: Tenants, alice: AliceSession) -> None:
    """Bob imports Alice's exported file (a copy of it reached him): the sessions are
    Bob's, Alice's are untouched, and Alice importing the same file gets her own copy,
    not a `duplicate` pointing at Bob's."""
    with tenants.client(tenants.alice) as http:
        export = http.get(f"/api/sessions/{alice.session_id}/export").json()
    with tenants.client(tenants.bob) as bob:
        report = bob.post("/api/sessions/import", json=export).json()
        bobs = report["items"][0]["session_id"]
        assert bob.get(f"/api/sessions/{bobs}").json()["owner"] == "bob"
    with tenants.client(tenants.alice) as http:
        assert http.get(f"/api/sessions/{bobs}").status_code == 404
        again = http.post("/api/sessions/import", json=export).json()["items"][0]
        assert again["status"] == "imported"
        assert again["session_id"] not in (bobs, alice.session_id)
        assert _snapshot(http, alice.session_id) == alice.snapshot


def test_creating_with_anothers_idempotency_key_makes_a_new_session(
    tenants: Tenants,
) -> None:
    headers = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    body = {"metadata": {"same": "body"}}
    with tenants.client(tenants.alice) as http, tenants.client(tenants.bob) as bob:
        first = http.post("/api/sessions", json=body, headers=headers)
        second = bob.post("/api/sessions", json=body, headers=headers)
        repeat = bob.post("/api/sessions", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["session_id"] != first.json()["session_id"]
    assert "Idempotent-Replayed" not in second.headers
    assert (second.json()["owner"], first.json()["owner"]) == ("bob", "alice")
    assert repeat.json()["session_id"] == second.json()["session_id"]  # bob's own repeat


def test_the_audit_trail_is_for_admin_keys_only(tenants: Tenants) -> None:
    with tenants.client(tenants.bob) as bob:
        refused = bob.get("/api/audit")
    assert refused.status_code == 403
    assert refused.json()["code"] == "admin_required"
    with tenants.client(tenants.admin) as admin:
        assert admin.get("/api/audit").status_code == 200


def test_metrics_are_for_admin_keys_only(tenants: Tenants, alice: AliceSession) -> None:
    """Counts of everyone's turns are an operator's: a plain key gets 403. Nothing in
    them names a session, a key or a word of a message."""
    with tenants.client(tenants.bob) as bob:
        refused = bob.get("/metrics")
    assert (refused.status_code, refused.json()["code"]) == (403, "admin_required")
    with tenants.client(tenants.admin) as admin:
        scraped = admin.get("/metrics")
    assert scraped.status_code == 200
    assert "chat_turns_total" in scraped.text
    for private in (alice.session_id, "alice", "secret"):
        assert private not in scraped.text


def test_health_routes_carry_no_session_data(tenants: Tenants, alice: AliceSession) -> None:
    with tenants.client(tenants.bob) as bob:
        bodies = [
            bob.get(path).text for path in ("/api/health", "/api/health/live", "/api/health/ready")
        ]
    assert all(alice.session_id not in body and "alice" not in body for body in bodies)


def test_alices_session_is_untouched_after_every_probe(
    tenants: Tenants, alice: AliceSession
) -> None:
    with tenants.client(tenants.alice) as http:
        assert _snapshot(http, alice.session_id) == alice.snapshot
        exported = http.get(f"/api/sessions/{alice.session_id}/export")
        assert exported.status_code == 200
        assert exported.json()["messages"][0]["content"] == "my secret plan"
        replayed = read_stream(http, "GET", f"/api/messages/{alice.reply_id}/stream")
        assert replayed.types == ["start", "delta", "done"]


def test_a_new_conversation_is_its_creators_only(tenants: Tenants) -> None:
    """POST /v1/conversations makes a session of the caller's key, as POST
    /api/sessions does: another key finds nothing there."""
    body = {"items": [{"role": "user", "content": "alice's"}], "metadata": {"k": "v"}}
    with tenants.client(tenants.alice) as alice, tenants.client(tenants.bob) as bob:
        made = alice.post("/v1/conversations", json=body)
        assert made.status_code == 200, made.text
        conversation_id = made.json()["id"]
        assert bob.get(f"/v1/conversations/{conversation_id}").status_code == 404
        assert bob.get(f"/api/sessions/{conversation_id}").status_code == 404
        assert alice.get(f"/api/sessions/{conversation_id}").json()["owner"] == "alice"


def test_models_name_only_the_callers_profiles(tenants: Tenants) -> None:
    """GET /v1/models lists a profile as a model to its owner (and admins) only."""
    name = f"only-alice-{uuid.uuid4().hex[:6]}"
    with tenants.client(tenants.alice) as alice:
        assert alice.post("/api/profiles", json={"name": name}).status_code == 201
        seen = {}
        for who, key in (("alice", tenants.alice), ("bob", tenants.bob), ("admin", tenants.admin)):
            with tenants.client(key) as http:
                listing = http.get("/v1/models")
                assert listing.status_code == 200, listing.text
                seen[who] = f"profile:{name}" in {m["id"] for m in listing.json()["data"]}
    assert seen == {"alice": True, "bob": False, "admin": True}


def test_profiles_are_listed_and_used_by_their_owner_only(
    tenants: Tenants, alice: AliceSession
) -> None:
    """Bob lists none of Alice's profiles, may reuse her profile's name (names are
    unique per key), and cannot give his sessions her profile: it is as unknown to
    him as one that never existed. An admin key sees both."""
    with tenants.client(tenants.bob) as bob, tenants.client(tenants.admin) as admin:
        listed = bob.get("/api/profiles", params={"q": "alice"}).json()["items"]
        same_name = bob.post("/api/profiles", json={"name": "alice's"})
        profile_ids = (alice.profile_id, str(uuid.uuid4()))
        refused = [
            bob.post("/api/sessions", json={"profile_id": profile_id}) for profile_id in profile_ids
        ]
        everyone = admin.get("/api/profiles", params={"q": "alice's"}).json()["items"]
    assert listed == []
    assert same_name.status_code == 201
    assert same_name.json()["owner"] == "bob"
    assert [r.status_code for r in refused] == [422, 422]
    details = {
        response.json()["detail"].replace(profile_id, "ID")
        for response, profile_id in zip(refused, profile_ids, strict=True)
    }
    assert details == {"profile_id: no profile ID of yours"}
    assert sorted(p["owner"] for p in everyone) == ["alice", "bob"]


# The OpenAI door, through the official SDK (tests/test_openai_*.py for the rest).


def test_keys_see_only_their_own_sessions_and_profiles(tenants: Tenants) -> None:
    with (
        tenants.client(tenants.alice) as alice_http,
        sdk(tenants.app, tenants.alice) as alice,
        sdk(tenants.app, tenants.bob) as bob,
        sdk(tenants.app, "not-a-key") as stranger,
    ):
        name = f"alices-{uuid.uuid4().hex[:6]}"
        alice_http.post("/api/profiles", json={"name": name})
        raw = alice.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO)
        session_id = raw.headers["X-Session-Id"]
        assert f"profile:{name}" in {m.id for m in alice.models.list()}
        assert f"profile:{name}" not in {m.id for m in bob.models.list()}
        with pytest.raises(openai.NotFoundError):
            bob.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers={"X-Session-Id": session_id}
            )
        with pytest.raises(openai.NotFoundError):
            bob.chat.completions.create(model=f"profile:{name}", messages=HELLO)
        with pytest.raises(openai.AuthenticationError) as refused:
            stranger.models.list()
        assert refused.value.code == "invalid_api_key"
        assert len(history(alice_http, session_id)) == 2


def test_another_keys_response_is_a_missing_one(tenants: Tenants) -> None:
    with sdk(tenants.app, tenants.alice) as alice, sdk(tenants.app, tenants.bob) as bob:
        made = alice.responses.create(model="m", input="alice's secret")
        for call in (
            lambda: bob.responses.retrieve(made.id),
            lambda: bob.responses.cancel(made.id),
            lambda: bob.responses.delete(made.id),
            lambda: bob.responses.input_items.list(made.id),
            lambda: bob.responses.create(model="m", input="x", previous_response_id=made.id),
        ):
            with pytest.raises(openai.NotFoundError):
                call()
        assert alice.responses.retrieve(made.id).output_text == "Echo: alice's secret"


def test_another_keys_conversation_is_a_missing_one(tenants: Tenants) -> None:
    with sdk(tenants.app, tenants.alice) as alice, sdk(tenants.app, tenants.bob) as bob:
        made = alice.conversations.create(
            items=[{"type": "message", "role": "user", "content": "alice's"}]
        )
        item: Any = alice.conversations.items.list(made.id).data[0]
        new_item = [{"type": "message", "role": "user", "content": "bob's"}]
        for call in (
            lambda: bob.conversations.retrieve(made.id),
            lambda: bob.conversations.update(made.id, metadata={"x": "y"}),
            lambda: bob.conversations.items.list(made.id),
            lambda: bob.conversations.items.create(made.id, items=new_item),  # type: ignore[arg-type]
            lambda: bob.conversations.items.retrieve(item.id, conversation_id=made.id),
            lambda: bob.conversations.items.delete(item.id, conversation_id=made.id),
            lambda: bob.conversations.delete(made.id),
        ):
            with pytest.raises(openai.NotFoundError):
                call()
        kept: Any = alice.conversations.items.list(made.id).data
        assert [i.content[0].text for i in kept] == ["alice's"]
