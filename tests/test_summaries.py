"""Summary memory (issue 18): running summaries of what falls out of the window, written
in the background by a second fake LLM (SUMMARY_LLM_SERVER_URL, SUMMARY_MODEL), stored,
used by the next turn, kept for branches that share the covered prefix and dropped
for those that change it; a failing or slow summary never touches a turn.

The turns' fake counts one token per word (its llama.cpp tokenize route), so the plan
is exact; the summaries' fake answers "Recap: <the last 6 words it was sent>".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from models.tools import TOOL_EXAMPLE
from services.memory.summary_text import SUMMARY_HEADING, SUMMARY_INSTRUCTION
from tests.conftest import App, FakeLLM
from tests.helpers import chat, history, new_session, wait_for

TRIGGER = 60
SETTINGS = {
    "memory_type": "summary",
    "llm_context_tokens": "400",
    "default_max_tokens": "50",
    "max_context_messages": "50",
    "summary_trigger_tokens": str(TRIGGER),
    "summary_max_tokens": "40",
    "summary_model": "recap-model",
}


@pytest.fixture(scope="module")
def summary_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeLLM]:
    server = FakeLLM(tmp_path_factory.mktemp("summary_llm"), 0, "--recap", "6")
    server.start()
    yield server
    server.proc.stop()


@pytest.fixture
def summarizing(make_app: Any, fake_llm: FakeLLM, summary_llm: FakeLLM) -> App:
    summary_llm.reset()
    fake_llm.tokenizer("llama.cpp")
    app: App = make_app(summary_llm_server_url=summary_llm.url, **SETTINGS)
    return app


def words(turn: int) -> str:
    """A user message of 20 words, each naming its turn."""
    return " ".join(f"t{turn}w{index}" for index in range(20))


def plan_of(http: httpx.Client, message_id: str) -> dict[str, Any]:
    response = http.get(f"/api/messages/{message_id}/context")
    assert response.status_code == 200, response.text
    return dict(response.json())


def summaries(http: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    response = http.get(f"/api/sessions/{session_id}/summaries")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def turns_until_left_out_passes_trigger(http: httpx.Client, session_id: str) -> int:
    """Chat until a reply's plan leaves out more than the trigger; that turn's number."""
    for turn in range(1, 20):
        reply = chat(http, session_id=session_id, message=words(turn))
        if plan_of(http, reply["message_id"])["left_out"]["tokens"] > TRIGGER:
            return turn
    raise AssertionError("the window never left out enough to summarize")


def session_with_a_summary(
    http: httpx.Client,
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """A new session chatted until its first summary is stored: its id, the summary,
    its history."""
    session_id = new_session(http)
    turns_until_left_out_passes_trigger(http, session_id)
    (summary,) = wait_for(lambda: summaries(http, session_id), seconds=10)
    return session_id, summary, history(http, session_id)


def test_a_summary_is_written_stored_and_sent_by_the_next_turn(
    summarizing: App, fake_llm: FakeLLM, summary_llm: FakeLLM
) -> None:
    with summarizing.client() as http:
        session_id, summary, path = session_with_a_summary(http)
        (asked,) = summary_llm.requests()
        reply = chat(http, session_id=session_id, message="what did we say")
        sent = fake_llm.last_body()["messages"]
        plan = plan_of(http, reply["message_id"])

    # what the summarizer was asked: the instruction, then the left-out messages,
    # oldest first, from the session's first message; the newest turns not among them
    request = asked["body"]
    assert request["model"] == "recap-model"
    assert request["max_tokens"] == 40
    assert request["messages"][0] == {"role": "system", "content": SUMMARY_INSTRUCTION}
    text = request["messages"][1]["content"]
    assert text.startswith(f"Messages:\nuser: {words(1)}\nassistant: Echo: {words(1)}")
    assert words(len(path) // 2) not in text  # the newest question
    covered: list[dict[str, Any]] = []
    for message in path:
        if f"{message['role']}: {message['content']}" not in text:
            break
        covered.append(message)
    last_covered = covered[-1]

    # what was stored
    assert summary["covers_through_message_id"] == last_covered["message_id"]
    assert summary["covered_messages"] == len(covered)
    assert summary["text"] == "Recap: " + " ".join(text.split()[-6:])
    assert summary["model"] == "recap-model"
    assert summary["token_usage"]["completion_tokens"] == 7
    assert summary["previous_summary_id"] is None

    # the next turn: one system message carrying the summary, none of what it covers,
    # and a plan that names it and still counts the prompt exactly
    assert sent[0] == {"role": "system", "content": f"{SUMMARY_HEADING}\n{summary['text']}"}
    assert not {m["content"] for m in covered} & {m["content"] for m in sent[1:]}
    assert plan["summary_id"] == summary["summary_id"]
    assert plan["parts"][0] == {
        "kind": "summary",
        "id": summary["summary_id"],
        "role": "system",
        "tokens": len(summary["text"].split()) + 5 + 4,  # its heading's 5 words, framing 4
    }
    assert plan["prompt_tokens"] == reply["token_usage"]["prompt_tokens"]


def test_a_summary_serves_branches_that_share_its_prefix_only(
    summarizing: App, fake_llm: FakeLLM
) -> None:
    with summarizing.client() as http:
        session_id, summary, path = session_with_a_summary(http)
        newest_user = path[-2]
        # a new version of the newest question: its path still runs through the summary
        shared = chat(
            http, session_id=session_id, message="again", edit_of=newest_user["message_id"]
        )
        shared_plan = plan_of(http, shared["message_id"])
        shared_system = fake_llm.last_body()["messages"][0]["content"]
        # a new version of the first question: the summary's prefix is not its path
        edited = chat(http, session_id=session_id, message="other", edit_of=path[0]["message_id"])
        edited_plan = plan_of(http, edited["message_id"])
        edited_sent = fake_llm.last_body()["messages"]
        # deleting a message the summary covers deletes the summary with its subtree
        deleted = http.delete(f"/api/messages/{path[2]['message_id']}")
        left = summaries(http, session_id)

    assert shared_plan["summary_id"] == summary["summary_id"]
    assert summary["text"] in shared_system
    assert edited_plan["summary_id"] is None
    assert all(SUMMARY_HEADING not in m["content"] for m in edited_sent)
    assert [m["content"] for m in edited_sent] == ["other"]
    assert deleted.status_code == 204
    assert left == []


def test_a_failed_summary_leaves_the_turn_alone_and_is_tried_again(
    summarizing: App, summary_llm: FakeLLM
) -> None:
    summary_llm.script({"status": 500, "error": "summarizer down"})
    with summarizing.client() as http:
        session_id = new_session(http)
        turns_until_left_out_passes_trigger(http, session_id)
        wait_for(lambda: summary_llm.requests(), seconds=10)
        after_failure = summaries(http, session_id)
        path = history(http, session_id)
        reply = chat(http, session_id=session_id, message="still here")
        (summary,) = wait_for(lambda: summaries(http, session_id), seconds=10)
    assert after_failure == []
    assert [m["status"] for m in path] == ["complete"] * len(path)
    assert reply["finish_reason"] == "stop"
    assert len(summary_llm.requests()) == 2
    assert summary["session_id"] == session_id
    assert "summary of session" in summarizing.output()  # logged, not raised


def test_a_slow_summary_delays_no_reply_and_runs_once_per_session(
    summarizing: App, summary_llm: FakeLLM
) -> None:
    summary_llm.script({"delay": 30})
    with summarizing.client() as http:
        session_id = new_session(http)
        turn = turns_until_left_out_passes_trigger(http, session_id)
        wait_for(lambda: summary_llm.requests(), seconds=10)
        # the summary is still being written: turns go on, none starts a second one
        replies = [chat(http, session_id=session_id, message=words(turn + n)) for n in (1, 2)]
        left = summaries(http, session_id)
    assert [r["finish_reason"] for r in replies] == ["stop", "stop"]
    assert left == []
    assert len(summary_llm.requests()) == 1


def test_buffer_memory_never_summarizes(
    make_app: Any, fake_llm: FakeLLM, summary_llm: FakeLLM
) -> None:
    summary_llm.reset()
    app = make_app(summary_llm_server_url=summary_llm.url, **(SETTINGS | {"memory_type": "buffer"}))
    with app.client() as http:
        session_id = new_session(http)
        for turn in range(1, 12):
            reply = chat(http, session_id=session_id, message=words(turn))
        plan = plan_of(http, reply["message_id"])
        left = summaries(http, session_id)
    assert plan["left_out"]["tokens"] > TRIGGER  # it would have been summarized
    assert (left, summary_llm.requests()) == ([], [])


def test_a_profile_with_summary_memory_summarizes_in_a_buffer_service(
    make_app: Any, fake_llm: FakeLLM, summary_llm: FakeLLM
) -> None:
    summary_llm.reset()
    fake_llm.tokenizer("llama.cpp")
    buffer = SETTINGS | {"memory_type": "buffer"}
    app = make_app(summary_llm_server_url=summary_llm.url, **buffer)
    with app.client() as http:
        profile = http.post("/api/profiles", json={"name": "sum", "memory": {"type": "summary"}})
        session_id = new_session(http, profile_id=profile.json()["profile_id"])
        turns_until_left_out_passes_trigger(http, session_id)
        (summary,) = wait_for(lambda: summaries(http, session_id), seconds=10)
    assert summary["session_id"] == session_id


def test_a_fork_keeps_the_summaries_of_its_path(summarizing: App, fake_llm: FakeLLM) -> None:
    with summarizing.client() as http:
        session_id, summary, path = session_with_a_summary(http)
        fork = http.post(
            f"/api/sessions/{session_id}/fork", json={"message_id": path[-1]["message_id"]}
        ).json()
        copied = summaries(http, fork["session_id"])
        forked_path = history(http, fork["session_id"])
        reply = chat(http, session_id=fork["session_id"], message="in the fork")
        plan = plan_of(http, reply["message_id"])
        deleted = http.delete(f"/api/sessions/{session_id}")
        kept = summaries(http, fork["session_id"])
    (copy,) = copied
    place = [m["message_id"] for m in path].index(summary["covers_through_message_id"])
    assert copy["covers_through_message_id"] == forked_path[place]["message_id"]
    assert copy["summary_id"] != summary["summary_id"]
    assert (copy["text"], copy["covered_messages"]) == (
        summary["text"],
        summary["covered_messages"],
    )
    assert plan["summary_id"] == copy["summary_id"]
    assert summary["text"] in fake_llm.last_body()["messages"][0]["content"]
    assert deleted.status_code == 204
    assert kept == copied  # the source's deletion leaves the fork's memory whole


def test_tool_calls_and_results_are_summarized_and_never_sent_apart(
    summarizing: App, fake_llm: FakeLLM, summary_llm: FakeLLM
) -> None:
    """What tools brought in is in the summary request; once summarized, a call and its
    result leave the window together."""
    calls = [{"id": "call_w", "name": "get_weather", "arguments": '{"city": "Lisbon"}'}]
    with summarizing.client() as http:
        session_id = new_session(http)
        chat(http, session_id=session_id, message="hi")  # the counter's first probes
        fake_llm.script({"reply": "", "tool_calls": calls})
        called = chat(http, session_id=session_id, message="weather?", tools=[TOOL_EXAMPLE])
        assert called["finish_reason"] == "tool_calls"
        results = [{"tool_call_id": "call_w", "content": "18 C and sunny"}]
        chat(http, session_id=session_id, tool_results=results)
        turns_until_left_out_passes_trigger(http, session_id)
        wait_for(lambda: summaries(http, session_id), seconds=10)
        chat(http, session_id=session_id, message="and now?")
        sent = fake_llm.last_body()["messages"]
    text = summary_llm.requests()[0]["body"]["messages"][1]["content"]
    assert 'assistant: [called get_weather({"city": "Lisbon"})]' in text
    assert "tool results: 18 C and sunny" in text
    roles = [m["role"] for m in sent]
    for index, role in enumerate(roles):
        if role == "tool":
            assert roles[index - 1] in ("assistant", "tool")
            assert "tool_calls" in sent[index - 1] or roles[index - 1] == "tool"
