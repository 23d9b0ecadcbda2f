"""gunicorn -w 4: status, stop and resume answer alike whichever worker gets them.

Every request below opens a fresh connection, so the kernel hands it to any of the
four workers; the turn's state, text and stop requests live in the database."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import FakeLLM, ServerApp, child_pids, gunicorn_argv
from tests.helpers import history, new_session, streaming, streaming_turn, wait_for
from tests.test_resume import FULL_TEXT, WORDS, assert_seamless, read_then_drop, resume
from tests.test_stop import STOP_DEADLINE_SECONDS, upstream_closed_after

pytestmark = pytest.mark.slow
SLOW_REPLY = {"chunks": WORDS, "chunk_delay": 0.1}


@pytest.fixture(scope="module")
def four_workers(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM, new_database: Any
) -> Iterator[ServerApp]:
    workdir = tmp_path_factory.mktemp("workers")
    argv = gunicorn_argv(workers=4)
    app = ServerApp(argv, workdir, fake_llm.url, **new_database()).run_from_repository()
    app.start()
    yield app
    app.stop()
    assert "Traceback" not in app.output()


def fresh(app: ServerApp) -> httpx.Client:
    """A client whose every request is a new connection (any worker may answer)."""
    return app.client(headers={"Connection": "close"})


def test_status_and_stop_from_any_worker(four_workers: ServerApp, fake_llm: FakeLLM) -> None:
    with four_workers.client() as owner:
        session_id = new_session(owner)
        fake_llm.script(SLOW_REPLY)
        with (
            fresh(four_workers) as anyone,
            streaming_turn(owner, session_id, deltas=2) as (
                start,
                events,
            ),
        ):
            seen = []
            for _ in range(8):
                status = anyone.get(f"/api/sessions/{session_id}/status").json()
                assert (status["active"], status["message_id"]) == (True, start["message_id"])
                seen.append(status["chars_so_far"])
                time.sleep(0.05)
            assert seen == sorted(seen)
            assert seen[-1] > 0
            asked_at = time.time()
            stopped = anyone.post(f"/api/sessions/{session_id}/stop").json()
            rest = list(events)
        assert (stopped["stopped"], stopped["status"]) == (True, "cancelled")
        assert upstream_closed_after(fake_llm, asked_at) < STOP_DEADLINE_SECONDS
        assert rest[-1]["finish_reason"] == "cancelled"
        assert history(owner, session_id)[-1]["status"] == "cancelled"


@pytest.mark.parametrize("attempt", range(4))
def test_resume_from_any_worker(four_workers: ServerApp, fake_llm: FakeLLM, attempt: int) -> None:
    fake_llm.script({"chunks": WORDS, "chunk_delay": 0.03})
    with four_workers.client() as owner, fresh(four_workers) as anyone:
        before = read_then_drop(owner, {"message": "x"}, events=3 + attempt * 5)
        after = resume(anyone, before.events[0]["message_id"], before.ids[-1])
    assert_seamless(before, after, FULL_TEXT)


def test_regenerate_resumed_and_stopped_from_any_worker(
    four_workers: ServerApp, fake_llm: FakeLLM
) -> None:
    """A regenerate is a turn like the others across workers; two regenerates racing
    from two workers on one reply: one generates, the other is 409."""
    with four_workers.client() as owner, fresh(four_workers) as anyone:
        first = owner.post("/api/chat", json={"message": "one"}).json()
        url = f"/api/messages/{first['message_id']}/regenerate/stream"
        fake_llm.script({"chunks": WORDS, "chunk_delay": 0.03})
        before = read_then_drop(owner, None, events=5, url=url)
        after = resume(anyone, before.events[0]["message_id"], before.ids[-1])
        assert_seamless(before, after, FULL_TEXT)
        fake_llm.script(SLOW_REPLY)
        with streaming(owner, url, None, deltas=2) as (start, events):
            raced = anyone.post(url)
            assert (raced.status_code, raced.json()["message_id"]) == (409, start["message_id"])
            stopped = anyone.post(f"/api/sessions/{first['session_id']}/stop").json()
            assert list(events)[-1]["finish_reason"] == "cancelled"
        assert stopped["stopped"] is True
        stored = history(anyone, first["session_id"])
        assert (stored[-1]["status"], stored[-1]["sibling_count"]) == ("cancelled", 3)


def test_a_crashed_workers_turn_is_interrupted_by_the_others(
    tmp_path, fake_llm: FakeLLM, new_database: Any
) -> None:
    """kill -9 of the worker generating a reply: the master forks a new one, and the
    silent reply is marked interrupted, its text kept, the session free again."""
    settings = {"orphan_after_seconds": 1, **new_database()}
    app = ServerApp(gunicorn_argv(workers=2), tmp_path, fake_llm.url, **settings)
    app.run_from_repository()
    app.start()
    try:
        with app.client() as http:
            session_id = new_session(http)
            fake_llm.script(SLOW_REPLY)
            master = app.proc.process
            assert master is not None
            workers = child_pids(master.pid)
            assert len(workers) == 2
            with streaming_turn(http, session_id, deltas=4):
                time.sleep(0.4)  # past a checkpoint
                for worker in workers:
                    os.kill(worker, signal.SIGKILL)

            def ended() -> dict[str, Any] | None:
                reply = history(http, session_id)[-1]
                return None if reply["status"] == "streaming" else reply

            reply = wait_for(ended, seconds=15)
            assert reply["status"] == "interrupted"
            assert reply["content"].startswith("w0 w1 w2 w3 ")
            fake_llm.script({"reply": "fresh"})
            after = http.post("/api/chat", json={"session_id": session_id, "message": "again"})
            assert after.json()["content"] == "fresh"
    finally:
        app.stop()
