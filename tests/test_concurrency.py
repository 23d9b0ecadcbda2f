"""Concurrency proofs on 4 gunicorn workers sharing one SQLite file (real HTTP):

- 200 concurrent clients over 1,000 sessions: no 5xx (SQLite never surfaces
  "database is locked"), and every history complete and in order;
- 50 simultaneous turns on one session, round after round: exactly one wins each
  round (the others get 409), and the history has no interleaved or doubled turns.

bench/concurrency.py runs the same with figures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import FakeLLM, ServerApp, gunicorn_argv
from tests.helpers import history
from tests.load import many_sessions, one_session_rounds

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def four_workers(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM, new_database: Any
) -> Iterator[ServerApp]:
    workdir = tmp_path_factory.mktemp("concurrency")
    settings = {"llm_read_timeout": 60, **new_database()}
    app = ServerApp(gunicorn_argv(workers=4), workdir, fake_llm.url, **settings)
    app.run_from_repository()
    app.start()
    yield app
    app.stop()


def test_200_clients_over_1000_sessions_no_errors_and_whole_histories(
    four_workers: ServerApp,
) -> None:
    report = asyncio.run(many_sessions(four_workers.url, clients=200, sessions=1000, turns=2))
    print(report.summary())
    assert report.statuses == {201: 1000, 200: 2000}, report.summary()
    assert report.bad_histories == []
    log = four_workers.output()
    assert "database is locked" not in log
    assert "Traceback" not in log


def test_50_simultaneous_turns_on_one_session_have_one_winner_per_round(
    four_workers: ServerApp, fake_llm: FakeLLM
) -> None:
    rounds = 5
    # the winner's reply outlasts the arrival of all 50: a later winner would be a
    # legitimate next turn, not a race
    fake_llm.script(*[{"reply": "slow enough to overlap", "delay": 2.0}] * rounds)
    session_id, results = asyncio.run(one_session_rounds(four_workers.url, 50, rounds))
    assert results == [{200: 1, 409: 49}] * rounds
    with four_workers.client() as http:
        stored = history(http, session_id)
    assert [m["role"] for m in stored] == ["user", "assistant"] * rounds
    assert all(m["status"] == "complete" for m in stored)
    winners = [m["content"] for m in stored[::2]]
    assert [w.split()[0] for w in winners] == [f"r{n}" for n in range(rounds)]
    assert len({m["message_id"] for m in stored}) == 2 * rounds
