"""The keep-alive race: an LLM server that closes idle kept-alive connections (uvicorn,
which vLLM runs on, after 5 s) closes one just as a turn reuses it. The turn's request
meets a closed connection before any answer; it is retried on a new connection, and
no turn fails."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier
from typing import Any

import pytest

from tests.conftest import App, FakeLLM

KEEP_ALIVE = 0.05  # seconds the fake server keeps an idle connection
FIN_DELAY = 0.02  # seconds its close takes to reach us (see tests/fake_llm.py)
TURNS = 1000
CLIENTS = 8


@pytest.fixture
def impatient_llm(tmp_path: Path) -> Iterator[FakeLLM]:
    server = FakeLLM(tmp_path, 0, "--keep-alive", str(KEEP_ALIVE), "--fin-delay", str(FIN_DELAY))
    server.start()
    yield server
    server.proc.stop()


def turns_around_the_timeout(app: App, waves: int, seed: int, barrier: Barrier) -> list[int]:
    """One whole-reply turn per wave; the waves start together, after a pause close
    to the server's keep-alive, so every kept-alive connection is as old at once."""
    pace = random.Random(seed)
    statuses = []
    with app.client() as http:
        for index in range(waves):
            barrier.wait()
            time.sleep(KEEP_ALIVE + pace.uniform(-FIN_DELAY / 2, 1.5 * FIN_DELAY))
            response = http.post("/api/chat", json={"message": f"turn {index}"})
            statuses.append(response.status_code)
    return statuses


@pytest.mark.slow
def test_no_turn_fails_when_the_server_closes_idle_connections(
    make_app: Any, impatient_llm: FakeLLM
) -> None:
    app: App = make_app(llm_server_url=impatient_llm.url, llm_cooldown_seconds=0)
    with ThreadPoolExecutor(CLIENTS) as pool:
        barrier = Barrier(CLIENTS)
        runs = pool.map(
            turns_around_the_timeout,
            [app] * CLIENTS,
            [TURNS // CLIENTS] * CLIENTS,
            range(CLIENTS),
            [barrier] * CLIENTS,
        )
        statuses = [status for run in runs for status in run]
    assert len(statuses) == TURNS
    failures = [
        line
        for line in app.output().splitlines()
        if ("WARNING" in line or "ERROR" in line) and "without answering" not in line
    ]
    counts = {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count(200) == TURNS, (counts, failures[-10:])
    races = len(re.findall("closed the connection without answering", app.output()))
    print(f"{TURNS} turns, {races} met a closed connection and were retried")
    assert races >= 10  # the race did happen (about 1 turn in 8 here)
