"""Token counts from the model that will read them (issue 18): the LLM server's own
tokenizer, discovered once, each message counted once when stored, the template's
framing measured from the server; and the context plan of every reply.

The fake LLM counts one token per word, and its usage frames each message with 4
tokens (a reply with 5), adds 3, and 11 more without a system message
(tests/fake_llm.py): a counter that measured it right plans exactly the prompt the
server reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import App, FakeLLM, RefusedPort
from tests.helpers import chat, history, new_session, stream_chat

STYLES = ["llama.cpp", "vllm", "llama-cpp-python"]


def counting_app(make_app: Any, fake_llm: FakeLLM, style: str, **settings: Any) -> App:
    """An app on a fake LLM with that server's tokenize route, its counter discovered
    (and the template measured) by a first turn; the fake's log cleared after it."""
    fake_llm.tokenizer(style)
    app: App = make_app(**settings)
    with app.client() as http:
        chat(http, message="warm up")
    fake_llm.reset()
    fake_llm.tokenizer(style)
    return app


def plan_of(http: httpx.Client, message_id: str) -> dict[str, Any]:
    response = http.get(f"/api/messages/{message_id}/context")
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("style", STYLES)
def test_the_counted_prompt_is_the_servers_exactly(
    make_app: Any, fake_llm: FakeLLM, style: str
) -> None:
    app = counting_app(make_app, fake_llm, style)
    with app.client() as http:
        for system_prompt in ("You are terse and kind.", None):
            body = {"system_prompt": system_prompt} if system_prompt else {}
            session_id = new_session(http, **body)
            for turn in range(4):
                message = " ".join(["word"] * (3 + 5 * turn)) + " end"
                reply = chat(http, session_id=session_id, message=message)
                usage = reply["token_usage"]
                assert usage["estimated"] is False  # the server's usage
                assert reply["prompt_tokens"] == usage["prompt_tokens"], (system_prompt, turn)
                plan = plan_of(http, reply["message_id"])
                assert (plan["counter"], plan["prompt_tokens"]) == (
                    "server",
                    usage["prompt_tokens"],
                )
    # one count per turn, the new user message (a reply's count is the server's usage),
    # and the system prompt's, once, when the session was created
    assert len(fake_llm.tokenize_calls()) == 8 + 1


def test_the_plan_names_every_part_in_order(make_app: Any, fake_llm: FakeLLM) -> None:
    app = counting_app(make_app, fake_llm, "llama.cpp")
    with app.client() as http:
        session_id = new_session(http, system_prompt="Be brief now")
        chat(http, session_id=session_id, message="one two three")
        reply = chat(http, session_id=session_id, message="four five")
        u1, a1, u2, a2 = history(http, session_id)
        plan = plan_of(http, a2["message_id"])
    assert plan["message_id"] == a2["message_id"]
    parts = [(p["kind"], p["id"], p["role"], p["tokens"]) for p in plan["parts"]]
    assert parts == [
        ("system", None, "system", 3 + 4),
        ("message", u1["message_id"], "user", 3 + 4),
        ("message", a1["message_id"], "assistant", 4 + 5),  # "Echo: one two three"
        ("message", u2["message_id"], "user", 2 + 4),
    ]
    assert plan["framing_tokens"] == 3  # with a system message: the reply's header only
    assert plan["prompt_tokens"] == 3 + sum(p[3] for p in parts) == reply["prompt_tokens"]
    assert plan["left_out"] == {"messages": 0, "tokens": 0}
    assert (plan["context_tokens"], plan["reply_room_tokens"]) == (2048, 256)
    assert plan["budget_tokens"] == 2048 - 256 - 3
    assert plan["summary_id"] is None
    with app.client() as http:  # operators see the counter in use
        assert http.get("/api/health").json()["llm"]["token_counter"] == "server:fake-model"


def test_what_does_not_fit_is_left_out_and_counted(make_app: Any, fake_llm: FakeLLM) -> None:
    """MAX_CONTEXT_TOKENS=40: room for the newest messages only, cut by counts."""
    app = counting_app(make_app, fake_llm, "llama.cpp", max_context_tokens=40)
    with app.client() as http:
        session_id = new_session(http, system_prompt="Be brief")
        for n in range(3):
            chat(http, session_id=session_id, message=" ".join(["w"] * 6) + f" {n}")
        reply = chat(http, session_id=session_id, message="last one")
        plan = plan_of(http, reply["message_id"])
    assert plan["budget_tokens"] == 40
    sent = sum(p["tokens"] for p in plan["parts"])
    assert sent <= 40
    # each earlier turn: a user message of 7 words (+4) and a reply of 8 (+5): 11 + 13
    history_parts = [p for p in plan["parts"][1:-1]]
    assert [p["tokens"] for p in history_parts] == [11, 13]  # the newest turn only
    assert plan["left_out"] == {"messages": 4, "tokens": 2 * (11 + 13)}
    sent_contents = [m["content"] for m in fake_llm.last_body()["messages"]]
    assert len(sent_contents) == 1 + 2 + 1


def test_a_reply_without_usage_is_counted_by_the_tokenizer(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    """llama-cpp-python reports no usage in streams, and its chunks are not tokens (it
    holds back partial characters): the reply's text is counted instead."""
    app = counting_app(make_app, fake_llm, "llama-cpp-python")
    with app.client() as http:
        fake_llm.script({"chunks": ["uno dos", " tres cuatro cinco"], "usage": False})
        first = chat(http, message="count in spanish")
        assert first["token_usage"]["estimated"] is True
        assert len(fake_llm.tokenize_calls()) == 2  # the message, then the reply
        second = chat(http, session_id=first["session_id"], message="again")
    assert second["prompt_tokens"] == second["token_usage"]["prompt_tokens"]
    assert fake_llm.last_body()["messages"][1]["content"] == "uno dos tres cuatro cinco"


def test_a_server_without_a_tokenizer_is_counted_by_estimate(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app = counting_app(make_app, fake_llm, "none")  # TOKEN_COUNTER=auto, the default
    with app.client() as http:
        reply = chat(http, message="hello there")
        plan = plan_of(http, reply["message_id"])
    assert (plan["counter"], plan["model"]) == ("estimate", None)
    with app.client() as http:
        assert http.get("/api/health").json()["llm"]["token_counter"] == "estimate"
    assert reply["prompt_tokens"] == plan["prompt_tokens"]
    assert fake_llm.tokenize_calls() == []  # discovered once, at the first turn


def test_a_server_down_at_the_first_turn_is_asked_again(
    make_app: Any, tmp_path: Path, refused_port: RefusedPort
) -> None:
    """Unreachable says nothing about the server's tokenizer: the next turn asks again."""
    app: App = make_app(llm_server_url=refused_port.url)
    with app.client() as http:
        down = http.post("/api/chat", json={"message": "anyone there?"})
        assert (down.status_code, down.json()["code"]) == (503, "llm_unavailable")
        refused_port.release()
        later = FakeLLM(tmp_path, refused_port.port)
        later.start()
        try:
            later.tokenizer("llama.cpp")
            reply = chat(http, message="now?")
            assert plan_of(http, reply["message_id"])["counter"] == "server"
            assert reply["prompt_tokens"] == reply["token_usage"]["prompt_tokens"]
        finally:
            later.proc.stop()


def test_token_counter_server_refuses_turns_it_cannot_count(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app: App = make_app(token_counter="server")
    with app.client() as http:
        session_id = new_session(http)
        refused = http.post("/api/chat", json={"session_id": session_id, "message": "hi"})
        assert refused.status_code == 503
        assert refused.json()["code"] == "token_counter_unavailable"
        assert history(http, session_id) == []  # nothing stored
        again = http.post("/api/chat", json={"session_id": session_id, "message": "hi"})
        assert again.status_code == 503  # still no tokenizer: still refused, not estimated
        fake_llm.tokenizer("llama.cpp")  # the server can count now: asked again
        reply = chat(http, session_id=session_id, message="hi")
        assert plan_of(http, reply["message_id"])["counter"] == "server"
    assert fake_llm.requests()  # the calibration and the turn


def test_a_regenerate_reuses_the_stored_count_and_streams_carry_the_plan(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app = counting_app(make_app, fake_llm, "vllm")
    with app.client() as http:
        first = chat(http, message="count me once")
        calls = len(fake_llm.tokenize_calls())
        again = http.post(f"/api/messages/{first['message_id']}/regenerate").json()
        assert len(fake_llm.tokenize_calls()) == calls  # the user message kept its count
        assert again["prompt_tokens"] == again["token_usage"]["prompt_tokens"]
        streamed = stream_chat(http, {"session_id": first["session_id"], "message": "and me"})
        done = streamed.last
        assert done["type"] == "done"
        assert done["prompt_tokens"] == done["token_usage"]["prompt_tokens"]


def test_the_context_route_refuses_what_has_no_plan(client: httpx.Client) -> None:
    reply = chat(client, message="hello")
    user = client.get(f"/api/messages/{reply['user_message_id']}/context")
    assert (user.status_code, user.json()["code"]) == (404, "context_plan_not_found")
    unknown = client.get("/api/messages/no-such-message/context")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "message_not_found")
    assert client.get(f"/api/messages/{reply['message_id']}/context").status_code == 200


def test_a_turn_for_another_model_is_sized_by_the_estimate(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    """The server's tokenizer counts for the model it serves by default; a turn that
    names another model (vLLM or Ollama serving several) is sized by the estimate,
    which errs high, rather than by the wrong tokenizer."""
    app = counting_app(make_app, fake_llm, "vllm")
    with app.client() as http:
        session_id = new_session(http)
        usual = chat(http, session_id=session_id, message="one two three")
        other = chat(http, session_id=session_id, message="four five", model="other-model")
        plans = [plan_of(http, reply["message_id"]) for reply in (usual, other)]
    assert [(p["counter"], p["model"]) for p in plans] == [
        ("server", "fake-model"),
        ("estimate", None),
    ]
    assert other["model"] == "other-model"  # the server named it in its chunks
    assert plans[0]["prompt_tokens"] == usual["token_usage"]["prompt_tokens"]
    assert plans[1]["prompt_tokens"] > other["token_usage"]["prompt_tokens"]  # high side
