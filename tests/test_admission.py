"""Turn starts are admitted a few at a time (TURN_START_SLOTS), and a slot is given
back as soon as its turn runs: a long stream never holds up the next turn, and a
request that fails before its turn starts never keeps its slot."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from services.turns.admission import TurnAdmission, started
from tests.conftest import FakeLLM
from tests.helpers import chat, new_session, streaming, streaming_turn, wait_for

LONG_REPLY = " ".join(f"w{n}" for n in range(100))  # 100 chunks, 0.1 s apart: 10 s


def test_one_slot_serves_turns_beside_a_long_stream(make_app: Any, fake_llm: FakeLLM) -> None:
    """With a single slot, a stream, a whole reply and a regenerate's stream all start
    and finish while a 10-second stream is still generating: each slot went back
    when its turn started, not when its request ended."""
    app = make_app(turn_start_slots=1)
    with app.client() as http:
        busy, free = new_session(http), new_session(http)
        first = chat(http, session_id=free, message="a quick one")
        fake_llm.script({"reply": LONG_REPLY, "chunk_delay": 0.1})
        with streaming_turn(http, busy, deltas=2) as (_start, long_events):
            # each of these would wait for the whole long stream if its slot were held
            with streaming_turn(http, free, deltas=1) as (_other, events):
                assert [e["type"] for e in events][-1] == "done"
            assert chat(http, session_id=free, message="and another")["content"]
            url = f"/api/messages/{first['message_id']}/regenerate/stream"
            with streaming(http, url, None, 1) as (_again, events):
                assert [e["type"] for e in events][-1] == "done"
            status = http.get(f"/api/sessions/{busy}/status").json()
            assert (status["active"], status["status"]) == (True, "streaming"), status
            assert next(long_events)["type"] == "delta"


def test_a_repeat_waiting_for_its_original_reply_holds_no_slot(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    """A request repeated with the same Idempotency-Key waits for the original turn's
    reply; with a single slot, a new turn elsewhere still starts meanwhile."""
    app = make_app(turn_start_slots=1)
    with app.client(timeout=30) as http, ThreadPoolExecutor(2) as pool:
        busy, free = new_session(http), new_session(http)
        fake_llm.script({"reply": LONG_REPLY, "chunk_delay": 0.1})
        body = {"session_id": busy, "message": "once"}
        headers = {"Idempotency-Key": "k-1"}
        original = pool.submit(http.post, "/api/chat", json=body, headers=headers)
        assert wait_for(lambda: http.get(f"/api/sessions/{busy}/status").json()["active"], 5)
        repeat = pool.submit(http.post, "/api/chat", json=body, headers=headers)
        time.sleep(0.5)  # the repeat is waiting for the original reply
        assert chat(http, session_id=free, message="meanwhile")["content"]
        status = http.get(f"/api/sessions/{busy}/status").json()
        assert (status["active"], status["status"]) == (True, "streaming"), status
        assert http.post(f"/api/sessions/{busy}/stop").status_code == 200
        assert original.result().json() == repeat.result().json()
        assert repeat.result().headers["Idempotent-Replayed"] == "true"


def test_requests_refused_before_their_turn_starts_give_their_slot_back(make_app: Any) -> None:
    app = make_app(turn_start_slots=1)
    with app.client(timeout=10) as http:
        for _ in range(3):
            assert http.post("/api/chat", json={"message": ""}).status_code == 422
            missing = {"session_id": "no-such-session", "message": "hello"}
            assert http.post("/api/chat/stream", json=missing).status_code == 404
        assert chat(http, message="still admitted")["content"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def hold_until(release: asyncio.Event, log: list[str], name: str) -> None:
    log.append(f"{name} in")
    await release.wait()
    started()
    log.append(f"{name} started")
    await asyncio.sleep(0.01)  # still running: its slot is already free


@pytest.mark.anyio
async def test_starts_wait_in_arrival_order_for_a_slot_freed_by_started() -> None:
    admission = TurnAdmission(2)
    log: list[str] = []
    gates = {name: asyncio.Event() for name in "abcd"}
    tasks = [
        asyncio.create_task(admission.admit(partial(hold_until, gates[name], log, name)))
        for name in "abcd"
    ]
    await asyncio.sleep(0.01)
    assert log == ["a in", "b in"]  # c and d wait
    gates["b"].set()
    await asyncio.sleep(0.005)
    assert log[2:] == ["b started", "c in"]  # b's slot went to c, before b returned
    for gate in gates.values():
        gate.set()
    await asyncio.gather(*tasks)
    assert log.count("d in") == 1


@pytest.mark.anyio
async def test_a_start_that_fails_gives_its_slot_back() -> None:
    admission = TurnAdmission(1)

    async def fails() -> None:
        raise RuntimeError("refused before the turn started")

    with pytest.raises(RuntimeError):
        await admission.admit(fails)
    done: list[bool] = []

    async def succeeds() -> None:
        done.append(True)

    await asyncio.wait_for(admission.admit(succeeds), 1)
    assert done == [True]
    started()  # outside an admitted start: nothing to give back, no error
