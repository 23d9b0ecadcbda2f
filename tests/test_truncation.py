"""`truncation: disabled`: a turn whose history would not all be sent is refused
(400 `context_length_exceeded`, OpenAI's status and code) and stores nothing; with
`auto` (the default) the window leaves the oldest history out, as always."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, new_session, wait_for
from tests.test_openai_chat import sdk


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM) -> Any:
    app = App(tmp_path_factory.mktemp("capped"), fake_llm.url, max_context_messages=3)
    yield app.start()
    app.stop()


def test_the_message_cap_leaving_history_out_is_refused(capped: App, fake_llm: FakeLLM) -> None:
    with capped.client() as http:
        session_id = new_session(http)
        chat(http, session_id=session_id, message="one", truncation="disabled")
        chat(http, session_id=session_id, message="two", truncation="disabled")  # 3: fits
        before = history(http, session_id)
        refused = http.post(
            "/api/chat",
            json={"session_id": session_id, "message": "three", "truncation": "disabled"},
        )
        assert refused.status_code == 400
        assert refused.json()["code"] == "context_length_exceeded"
        assert "older messages would be left out" in refused.json()["detail"]
        assert history(http, session_id) == before
        sent = chat(http, session_id=session_id, message="three")  # auto: the cap applies
        assert sent["content"] == "Echo: three"
        assert [m["content"] for m in fake_llm.last_body()["messages"]] == [
            "two",
            "Echo: two",
            "three",
        ]


def test_the_token_budget_leaving_history_out_is_refused(make_app: Any, fake_llm: FakeLLM) -> None:
    app: App = make_app(llm_context_tokens=400, default_max_tokens=64)
    with app.client() as http:
        session_id = new_session(http)
        chat(http, session_id=session_id, message="long " * 100)
        refused = http.post(
            "/api/chat",
            json={"session_id": session_id, "message": "short", "truncation": "disabled"},
        )
        assert refused.status_code == 400
        assert refused.json()["code"] == "context_length_exceeded"
        assert len(history(http, session_id)) == 2


def test_a_response_with_truncation_disabled_is_the_sdks_bad_request(
    capped: App, fake_llm: FakeLLM
) -> None:
    with sdk(capped) as client:
        first = client.responses.create(model="m", input="one", truncation="disabled")
        assert first.truncation == "disabled"
        second = client.responses.create(model="m", input="two", previous_response_id=first.id)
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(
                model="m", input="three", previous_response_id=second.id, truncation="disabled"
            )
        assert refused.value.code == "context_length_exceeded"
        assert refused.value.type == "invalid_request_error"
        fits = client.responses.create(model="m", input="three", previous_response_id=second.id)
        assert fits.output_text == "Echo: three"


def test_an_unstored_response_is_answered_then_gone(capped: App, fake_llm: FakeLLM) -> None:
    """`store: false`: answered as usual, then deleted with its input (and the session
    it started); in a conversation, the conversation is left as it was."""
    with sdk(capped) as client, capped.client() as http:
        sessions = http.get("/api/sessions").json()["items"]
        alone = client.responses.create(model="m", input="forget me", store=False)
        assert alone.output_text == "Echo: forget me"
        assert (alone.model_extra or {}).get("store") is False
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(alone.id)
        assert http.get("/api/sessions").json()["items"] == sessions
        kept = client.responses.create(model="m", input="keep me")
        conversation = kept.conversation.id if kept.conversation else ""
        before = history(http, conversation)
        several: Any = [
            {"role": "user", "content": "an aside"},
            {"role": "assistant", "content": "noted"},
            {"role": "user", "content": "and forget this"},
        ]
        with client.responses.stream(
            model="m", input=several, conversation=conversation, store=False
        ) as stream:
            streamed = stream.get_final_response()
        assert streamed.output_text == "Echo: and forget this"
        wait_for(lambda: history(http, conversation) == before)
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(streamed.id)
        with pytest.raises(openai.UnprocessableEntityError) as refused:
            client.responses.create(model="m", input="x", store=False, background=True)
        assert "background" in refused.value.message
