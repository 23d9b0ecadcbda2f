"""PostgreSQL's own concerns: reaching the server, several instances on one database.

Everything else (sessions, trees, summaries, profiles, keys...) runs on PostgreSQL
through the `backend` fixture of every storage test; these are what only it has.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx
import psycopg
import pytest
from httpx_sse import EventSource

from tests.conftest import ROOT, App, FakeLLM, RefusedPort, ServerApp, gunicorn_argv, run_main
from tests.helpers import chat, history, new_session, streaming_turn
from tests.postgres import PostgresServer

UNREACHABLE = "Cannot reach the database at postgresql://chat:***@127.0.0.1"


def test_an_unreachable_database_at_startup_is_one_line_and_exit_2(
    tmp_path: Path, refused_port: RefusedPort
) -> None:
    url = f"postgresql://chat:s3cret@127.0.0.1:{refused_port.port}/chat"
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "LLM_SERVER_URL": "http://127.0.0.1:9"}
    result = run_main(tmp_path, env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(UNREACHABLE)
    assert "Connection refused" in lines[0]
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.slow
def test_an_unreachable_database_stops_gunicorn_with_one_line(
    tmp_path: Path, fake_llm: FakeLLM, refused_port: RefusedPort
) -> None:
    url = f"postgresql://chat:s3cret@127.0.0.1:{refused_port.port}/chat"
    app = ServerApp(gunicorn_argv(2), tmp_path, fake_llm.url, database_url=url)
    app.run_from_repository()
    done = subprocess.run(
        app.command(), env=app.env, cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    assert UNREACHABLE in done.stderr
    assert "Traceback" not in done.stderr
    assert "s3cret" not in done.stderr


# Imports done, each process waits for the go file, so the migrations truly overlap.
_MIGRATE_AT_ONCE = """
import asyncio, sys, time
from pathlib import Path
from models.database import create_engine, migrate

async def main() -> None:
    engine = create_engine(sys.argv[1])
    while not Path(sys.argv[2]).exists():
        time.sleep(0.005)
    migration = await migrate(engine)
    print(migration.describe() if migration else "nothing to do")
    await engine.dispose()

asyncio.run(main())
"""


def test_migrations_started_at_the_same_moment_run_one_at_a_time(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url, go = postgres_server.create_database(), tmp_path / "go"
    argv = [sys.executable, "-c", _MIGRATE_AT_ONCE, url, str(go)]
    runs = [subprocess.Popen(argv, cwd=ROOT, stdout=PIPE, stderr=PIPE, text=True) for _ in range(4)]
    time.sleep(3)  # every process imported and waiting
    go.touch()
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, outputs
    said = sorted(out.strip() for out, _ in outputs)
    assert said == ["database created at schema revision 0014"] + ["nothing to do"] * 3


@pytest.mark.slow
def test_instances_starting_together_on_a_new_database_migrate_it_once(
    postgres_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    url = postgres_server.create_database()
    apps = [App(tmp_path / f"i{n}", fake_llm.url, database_url=url) for n in range(3)]
    starters = [threading.Thread(target=instance.start) for instance in apps]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    try:
        logs = [instance.output() for instance in apps]
        assert sum("database created at schema revision" in log for log in logs) == 1, logs
        with apps[0].client() as first, apps[2].client() as third:
            reply = chat(first, message="one database")
            assert len(history(third, reply["session_id"])) == 2
    finally:
        for instance in apps:
            instance.stop()
    with psycopg.connect(url) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
    assert revision == "0014"


@pytest.fixture
def two_instances(
    postgres_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> Iterator[tuple[App, App]]:
    """Two instances on one PostgreSQL database, as behind a load balancer. No
    checkpoint while a test's reply runs: what another instance sees of it live can
    only come from the bus."""
    url = postgres_server.create_database()
    settings = {"database_url": url, "checkpoint_seconds": 60, "checkpoint_chunks": 0}
    first = App(tmp_path / "a", fake_llm.url, **settings).start()
    second = App(tmp_path / "b", fake_llm.url, **settings).start()
    yield first, second
    first.stop()
    second.stop()


def sse_events(response: httpx.Response) -> Iterator[tuple[int, str, dict[str, Any]]]:
    for sse in EventSource(response).iter_sse():
        data = json.loads(sse.data)
        yield int(sse.id), data.pop("type"), data


def test_a_resume_on_another_instance_follows_the_reply_token_by_token(
    two_instances: tuple[App, App], fake_llm: FakeLLM
) -> None:
    owner, other = two_instances
    words = [f"w{n} " for n in range(40)]
    fake_llm.script({"reply": "".join(words).strip(), "chunk_delay": 0.03})
    with (
        owner.client() as http,
        other.client() as elsewhere,
        http.stream("POST", "/api/chat/stream", json={"message": "go"}) as response,
    ):
        at_owner = sse_events(response)
        start = next(at_owner)
        seen = [start, next(at_owner), next(at_owner), next(at_owner)]
        url = f"/api/messages/{start[2]['message_id']}/stream"
        with elsewhere.stream("GET", url, headers={"Last-Event-ID": "4"}) as resumed:
            assert resumed.status_code == 200
            followed = list(sse_events(resumed))
        seen += list(at_owner)
    assert followed == seen[4:]  # the same events, ids and texts, as the owner's client
    assert sum(event[1] == "delta" for event in followed) > 20  # live, not coalesced
    assert followed[-1][1] == "done"


def test_a_stop_on_another_instance_stops_the_owners_reply(
    two_instances: tuple[App, App], fake_llm: FakeLLM
) -> None:
    owner, other = two_instances
    fake_llm.script({"reply": " ".join(["slow"] * 200), "chunk_delay": 0.05})
    with owner.client() as http, other.client() as elsewhere:
        session_id = new_session(http)
        with streaming_turn(http, session_id, deltas=2) as (start, events):
            started = time.monotonic()
            stopped = elsewhere.post(f"/api/sessions/{session_id}/stop").json()
            took = time.monotonic() - started
            rest = list(events)
    assert stopped["stopped"] is True, stopped
    assert stopped["status"] == "cancelled"
    assert rest[-1]["type"] == "done"
    # not the 5 s a stopper waits at most (its latency over the bus is measured by
    # bench/postgres.py: timed asserts here would only be flaky)
    assert took < 2, took
    with owner.client() as http:
        stored = history(http, session_id)[-1]
    assert stored["message_id"] == start["message_id"]
    assert stored["status"] == "cancelled"
    assert stored["content"].startswith("slow slow")  # the text so far is kept


@pytest.mark.slow
def test_the_request_rate_is_exact_across_three_instances(
    postgres_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """With counts per process (memory://) three instances would allow three times
    the rate; counted in the database they allow it exactly, even sent all at once."""
    settings = {
        "database_url": postgres_server.create_database(),
        "auth_mode": "api_key",
        "rate_limit": "10 per 1 minute",
    }
    apps = [App(tmp_path / f"i{n}", fake_llm.url, **settings) for n in range(3)]
    for instance in apps:
        instance.start()
    try:
        key = apps[0].create_key("alice")
        clients = [a.client(headers={"Authorization": f"Bearer {key}"}) for a in apps]
        statuses: list[int] = []

        def send(n: int) -> None:
            statuses.append(clients[n % 3].get("/api/sessions").status_code)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200] * 10 + [429] * 20
        refused = clients[1].get("/api/sessions")
        assert refused.status_code == 429
        assert 55 <= int(refused.headers["Retry-After"]) <= 60
        for http in clients:
            http.close()
    finally:
        for instance in apps:
            instance.stop()


@pytest.mark.slow
def test_an_instance_starting_leaves_the_replies_of_the_others_alone(
    postgres_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    """Its startup sweep takes only replies silent for ORPHAN_AFTER_SECONDS: the one
    another instance is generating goes on to its end."""
    url = postgres_server.create_database()
    running = App(tmp_path / "a", fake_llm.url, database_url=url).start()
    starting = App(tmp_path / "b", fake_llm.url, database_url=url)  # sweeps at startup
    try:
        fake_llm.script({"reply": " ".join(["w"] * 200), "chunk_delay": 0.05})
        with running.client() as http:
            session_id = new_session(http)
            with streaming_turn(http, session_id, deltas=2) as (start, events):
                starting.start()
                with starting.client() as elsewhere:
                    mid = history(elsewhere, session_id)[-1]
                rest = list(events)
            assert mid["status"] == "streaming"  # not taken for a dead process's
            assert rest[-1]["type"] == "done"
            stored = history(http, session_id)[-1]
        assert (stored["message_id"], stored["status"]) == (start["message_id"], "complete")
        assert "now interrupted" not in starting.output()
    finally:
        starting.stop()
        running.stop()
