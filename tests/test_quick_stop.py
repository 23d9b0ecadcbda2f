"""SIGINT (Ctrl-C) and SIGQUIT stop the service now: under gunicorn (the master sends
SIGQUIT to its workers) and alone, idle or with a reply streaming. New requests get
503, the replies being generated are stored `interrupted` with their text, and no
worker is left for the master to SIGKILL."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import App, FakeLLM, ServerApp, child_pids, gunicorn_argv
from tests.helpers import new_session, streaming_turn, wait_for

LONG_REPLY = " ".join(f"w{n}" for n in range(200))  # 200 chunks, 0.1 s apart: 20 s
QUICK = 5.0  # seconds: the most a stop may take

# Signals to whole services, and gunicorn: timing-bound, run one at a time.
pytestmark = pytest.mark.slow


@pytest.fixture
def gunicorn_app(tmp_path: Path, fake_llm: FakeLLM) -> Iterator[App]:
    """gunicorn -w 4, in a process group of its own (for Ctrl-C to the group)."""
    app = ServerApp(gunicorn_argv(4), tmp_path, fake_llm.url, shutdown_grace_seconds=30)
    app.run_from_repository()
    app.proc.own_process_group = True
    app.start()
    booted = wait_for(lambda: app.output().count("Application startup complete") == 4, 30)
    assert booted, app.output()
    yield app
    app.stop(signal.SIGKILL)


def signal_and_time_the_exit(app: App, sig: int, group: bool = False) -> float:
    """Send `sig` to the server (or its whole process group, as Ctrl-C does); seconds
    until it has exited, with every worker."""
    process = app.proc.process
    assert process is not None
    workers = child_pids(process.pid)
    sent = time.monotonic()
    if group:
        os.killpg(process.pid, sig)
    else:
        process.send_signal(sig)
    process.wait(timeout=30)
    took = time.monotonic() - sent
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    return took


def stored_reply(app: App, message_id: str) -> tuple[str, str]:
    with app.db() as db:
        row = db.execute(
            "SELECT status, content FROM messages WHERE message_id = ?", (message_id,)
        ).fetchone()
    return str(row[0]), str(row[1])


def assert_clean_shutdown_log(app: App, sig: int) -> None:
    log = app.output()
    assert "SIGKILL" not in log
    assert "Traceback" not in log
    assert "Bad file descriptor" not in log
    assert "draining" not in log  # a quick stop, not a SIGTERM drain
    assert "was sent" not in log  # every worker ended by itself


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["SIGINT", "SIGQUIT"])
def test_an_idle_gunicorn_stops_at_once_on_sigint_and_sigquit(gunicorn_app: App, sig: int) -> None:
    assert signal_and_time_the_exit(gunicorn_app, sig) < QUICK
    assert_clean_shutdown_log(gunicorn_app, sig)
    log = gunicorn_app.output()  # and the start said what happened once, not per worker
    assert log.count("database created at schema revision") == 1
    assert "alembic" not in log


def stop_mid_reply(app: App, fake_llm: FakeLLM, sig: int, group: bool = False) -> None:
    """Signal the service while a reply streams: it is out within QUICK, the stream
    ends with `interrupted`, the reply is stored `interrupted` with the text sent so
    far, and the log is clean."""
    with app.client() as http:
        session_id = new_session(http)
        fake_llm.script({"reply": LONG_REPLY, "chunk_delay": 0.1})
        with streaming_turn(http, session_id, deltas=3) as (start, events):
            took = signal_and_time_the_exit(app, sig, group)
            rest = list(events)
    assert took < QUICK
    assert (rest[-1]["type"], rest[-1]["code"]) == ("error", "interrupted")
    status, text = stored_reply(app, start["message_id"])
    assert status == "interrupted"
    assert len(text.split()) >= 3
    assert LONG_REPLY.startswith(text)
    assert_clean_shutdown_log(app, sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["SIGINT", "SIGQUIT"])
def test_gunicorn_stores_a_streaming_reply_interrupted_on_sigint_and_sigquit(
    gunicorn_app: App, fake_llm: FakeLLM, sig: int
) -> None:
    stop_mid_reply(gunicorn_app, fake_llm, sig)


def test_ctrl_c_to_gunicorn_and_its_workers_stops_once(
    gunicorn_app: App, fake_llm: FakeLLM
) -> None:
    """Ctrl-C in a terminal signals the whole process group: the master sends SIGQUIT
    on top of the workers' own SIGINT."""
    stop_mid_reply(gunicorn_app, fake_llm, signal.SIGINT, group=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["SIGINT", "SIGQUIT"])
def test_python_main_stops_at_once_storing_the_reply_interrupted(
    make_app: Any, fake_llm: FakeLLM, sig: int
) -> None:
    app: App = make_app(shutdown_grace_seconds=30)
    stop_mid_reply(app, fake_llm, sig)
    assert app.output().count("stopping now") == 1


def test_sigterm_after_sigint_says_nothing_more(make_app: Any, fake_llm: FakeLLM) -> None:
    """Ctrl-C under `uvicorn --reload`: the server gets SIGINT from the terminal, then
    SIGTERM from the reloader. One stop, one line about it."""
    app: App = make_app(shutdown_grace_seconds=30)
    with app.client() as http:
        session_id = new_session(http)
        fake_llm.script({"reply": LONG_REPLY, "chunk_delay": 0.1})
        with streaming_turn(http, session_id, deltas=2) as (_, events):
            assert app.proc.process is not None
            app.proc.process.send_signal(signal.SIGINT)
            app.proc.process.send_signal(signal.SIGTERM)
            rest = list(events)
            app.proc.process.wait(timeout=QUICK)
    assert rest[-1]["code"] == "interrupted"
    assert app.output().count("SIGINT: stopping now") == 1
    assert_clean_shutdown_log(app, signal.SIGINT)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_process_following_anothers_reply_stops_without_waiting_for_it(
    make_app: Any, fake_llm: FakeLLM, sig: int
) -> None:
    """A resume stream that follows a reply generated by another process holds no turn
    of this one: stopping this process ends that stream (the client resumes elsewhere)
    instead of waiting for the other's reply to end."""
    owner: App = make_app(shutdown_grace_seconds=1)  # its own reply is not the point here
    follower = owner.sibling(interrupt_orphans_at_startup="false")
    follower.start()
    try:
        with owner.client() as http, follower.client() as elsewhere:
            session_id = new_session(http)
            fake_llm.script({"reply": LONG_REPLY, "chunk_delay": 0.1})
            with streaming_turn(http, session_id, deltas=1) as (start, events):
                url = f"/api/messages/{start['message_id']}/stream"
                with elsewhere.stream("GET", url, headers={"Last-Event-ID": "1"}) as followed:
                    assert followed.status_code == 200
                    took = signal_and_time_the_exit(follower, sig)
                    followed.read()  # ended whole (no broken chunked body): resume elsewhere
                assert next(events)["type"] == "delta"  # the owner's reply goes on
    finally:
        follower.stop(signal.SIGKILL)
    assert took < 2.5  # not the 20 s of the reply, nor the 5 s of uvicorn's own limit
    assert "without completing response" not in follower.output()
