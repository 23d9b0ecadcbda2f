"""Turn lifecycle figures: checkpoint overhead, stop latency, resume correctness.

    .venv/bin/python bench/turn_lifecycle.py [--rounds 6] [--turns 40] [--stops 20]
                                             [--resumes 100] [--json out.json]

Runs the fake LLM server (tests/fake_llm.py) and the service as real processes:
- checkpoint overhead: streamed turns of 256 chunks at concurrency 4 against two
  services, one with the default checkpoints and one with them off, alternating
  rounds; the ratio of their turn throughputs (medians);
- stop latency: from sending a stop to the fake LLM seeing its client disconnect,
  for a stop handled by the owning process and by a second process on the same
  database (which must find the stop in the turn_stops table);
- resume correctness: streams dropped at random points and resumed (live, after
  the turn ended, and through the second process); every run must give back the
  whole text exactly once with ids in order.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import fake_llm_in_tempdir, print_figures  # noqa: E402
from tests.conftest import App, FakeLLM  # noqa: E402
from tests.helpers import new_session, read_stream, streaming_turn  # noqa: E402
from tests.test_resume import read_then_drop, resume  # noqa: E402

CHUNKS = 256
WORDS = [f"w{n} " for n in range(60)]


def turn_throughput(app: App, turns: int, concurrency: int) -> float:
    """Streamed turns per second, each read to its `done`."""
    body = {"message": "go", "max_new_tokens": CHUNKS}

    def one(_: int) -> None:
        with app.client() as http:
            result = read_stream(http, "POST", "/api/chat/stream", json=body)
            assert result.types[-1] == "done", result.events[-1:]

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(turns)))
    return turns / (time.perf_counter() - started)


def checkpoint_overhead(fake: FakeLLM, workdir: Path, rounds: int, turns: int) -> dict[str, Any]:
    with_checkpoints = App(workdir / "on", fake.url).start()
    without = App(workdir / "off", fake.url, checkpoint_seconds=0, checkpoint_chunks=0).start()
    rates: dict[str, list[float]] = {"on": [], "off": []}
    try:
        for _ in range(rounds):
            for name, app in (("on", with_checkpoints), ("off", without)):
                fake.reset()
                fake.script(*[{"chunks": ["tok "] * CHUNKS}] * turns)
                rates[name].append(turn_throughput(app, turns, concurrency=4))
    finally:
        with_checkpoints.stop()
        without.stop()
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    return {
        "chunks_per_turn": CHUNKS,
        "turns_per_s_with_checkpoints": round(on, 1),
        "turns_per_s_without": round(off, 1),
        "ratio_with_over_without": round(on / off, 3),
    }


def stop_latency(fake: FakeLLM, owner: App, stopper: App) -> float:
    with owner.client() as http, stopper.client() as other:
        session_id = new_session(http)
        fake.script({"chunks": WORDS, "chunk_delay": 0.05})
        with streaming_turn(http, session_id, deltas=random.randint(1, 10)) as (_, events):
            asked_at = time.time()
            assert other.post(f"/api/sessions/{session_id}/stop").json()["stopped"]
            list(events)
    deadline = time.monotonic() + 5
    while "closed_at" not in (record := fake.requests()[-1]):
        assert time.monotonic() < deadline, record
        time.sleep(0.01)
    assert record["ended"] == "client_disconnected", record
    return float(record["closed_at"]) - asked_at


def stop_latencies(fake: FakeLLM, app: App, second: App, count: int) -> dict[str, Any]:
    figures = {}
    for name, stopper in (("same_process", app), ("other_process", second)):
        samples = sorted(stop_latency(fake, app, stopper) * 1000 for _ in range(count))
        figures[name] = {
            "median_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1),
            "max_ms": round(samples[-1], 1),
        }
    return figures


def resume_run(fake: FakeLLM, app: App, second: App, mode: str) -> bool:
    full = "".join(WORDS)
    fake.script({"chunks": WORDS, "chunk_delay": 0.005})
    with app.client() as http, (second if mode == "other_process" else app).client() as other:
        before = read_then_drop(http, {"message": "x"}, events=random.randint(1, len(WORDS)))
        message_id = before.events[0]["message_id"]
        if mode == "after_end":
            time.sleep(0.5)
        after = resume(other, message_id, before.ids[-1])
    ids = before.ids + after.ids
    return before.text + after.text == full and ids == sorted(set(ids))


def resume_correctness(fake: FakeLLM, app: App, second: App, runs: int) -> dict[str, Any]:
    modes = ["live", "after_end", "other_process"]
    results: dict[str, list[bool]] = {mode: [] for mode in modes}
    for run in range(runs):
        mode = modes[run % len(modes)]
        results[mode].append(resume_run(fake, app, second, mode))
    return {
        mode: {"runs": len(ok), "exact": sum(ok), "wrong": len(ok) - sum(ok)}
        for mode, ok in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--resumes", type=int, default=99)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with fake_llm_in_tempdir() as (fake, workdir):
        figures = run_all(fake, workdir, args)
    print_figures(figures, args.json)


def run_all(fake: FakeLLM, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "checkpoint_overhead": checkpoint_overhead(fake, workdir, args.rounds, args.turns)
    }
    app = App(workdir / "shared", fake.url).start()
    second = App(workdir / "shared", fake.url, interrupt_orphans_at_startup="false").start()
    try:
        figures["stop_latency"] = stop_latencies(fake, app, second, args.stops)
        figures["resume_correctness"] = resume_correctness(fake, app, second, args.resumes)
    finally:
        second.stop()
        app.stop()
    return figures


if __name__ == "__main__":
    main()
