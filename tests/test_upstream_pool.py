"""LLM_MAX_CONNECTIONS: the number of turns that can hold an LLM connection at once.

A streaming turn keeps its upstream connection for its whole reply, so the pool
caps concurrent generation. With a pool of one, a second turn waits for the first
reply to end; by default (1000) it does not.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import App, FakeLLM
from tests.helpers import chat, new_session, streaming_turn


def finish_order(app: App, fake_llm: FakeLLM) -> list[str]:
    """A slow reply in one session, a quick one in another sent while the first is
    generating: which came first at the LLM server, the slow reply's end ("slow") or
    the quick turn's request ("quick"). Read from the fake LLM's own clock (when each
    request arrived, when each response closed): the test's threads, on a busy
    machine, may read their events late, and the order they see is not the pool's."""
    fake_llm.script(
        {"chunks": ["a ", "b ", "c ", "d ", "e ", "f "], "chunk_delay": 0.15},
        {"reply": "quick"},
    )

    def quick_turn(http: httpx.Client, session_id: str) -> None:
        assert chat(http, session_id=session_id, message="hi")["content"] == "quick"

    with app.client() as http, app.client() as other, ThreadPoolExecutor(1) as pool:
        slow_session, quick_session = new_session(http), new_session(other)
        with streaming_turn(http, slow_session, deltas=1) as (_start, events):
            quick = pool.submit(quick_turn, other, quick_session)
            assert [event["type"] for event in events][-1] == "done"
        quick.result()
    by_message = {r["body"]["messages"][-1]["content"]: r for r in fake_llm.requests()}
    slow_end, quick_start = by_message["go slowly"]["closed_at"], by_message["hi"]["received_at"]
    return ["slow", "quick"] if slow_end <= quick_start else ["quick", "slow"]


def test_a_pool_of_one_makes_the_second_turn_wait_for_the_first(make_app, fake_llm) -> None:
    app = make_app(llm_max_connections=1, llm_read_timeout=10)
    assert finish_order(app, fake_llm) == ["slow", "quick"]


def test_by_default_turns_generate_side_by_side(make_app, fake_llm) -> None:
    app = make_app(llm_read_timeout=10)
    assert finish_order(app, fake_llm) == ["quick", "slow"]


@pytest.mark.parametrize("protocol", ["openai", "simple"])
def test_turns_reuse_one_upstream_connection(make_app, fake_llm: FakeLLM, protocol: str) -> None:
    """After `[DONE]` the reply's response is read to its end, so its connection goes
    back to the pool: turn after turn, whole or streamed, in either protocol, on one
    connection instead of a new one each."""
    app = make_app(llm_protocol=protocol)
    with app.client() as http:
        session_id = new_session(http)
        for _ in range(2):
            chat(http, session_id=session_id, message="whole")
            with streaming_turn(http, session_id, deltas=0) as (_start, events):
                assert [e["type"] for e in events][-1] == "done"
    ports = {request["client_port"] for request in fake_llm.requests()}
    assert len(fake_llm.requests()) == 4
    assert len(ports) == 1
