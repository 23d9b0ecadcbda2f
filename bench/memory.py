"""What memory costs a turn: a plain session, one with a buffer profile, and one with a
summary profile whose path holds a summary, in one service, turns alternated.

    .venv/bin/python bench/memory.py [--messages 1000] [--rounds 5] [--turns 40]
                                     [--json bench/memory_results.json]

Each session is seeded with `--messages` messages (bench/scenarios.py's seed_history);
the summary session also gets a summary covering all but its newest 40, and then runs
as in steady state: SUMMARY_TRIGGER_TOKENS as configured (default 1000), the fast
fake LLM writing the summaries in the background, so that what a turn walks down to
its summary stays near the trigger. The figures hold the turn's own cost (the profile
read, the walk to the summary, the summary in the window) and the summarizer's
share of the process. Printed: per-turn p50/p99, each session's ratio to the plain
one, and the summaries written.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from bench.harness import FastLLM, Service, print_figures  # noqa: E402
from bench.loadgen import median, percentile, stream_turns  # noqa: E402

UNSUMMARIZED = 40


def summarize_all_but_newest(db_path: Path, session_id: str, leaf: str) -> None:
    """A summary covering the path down to its UNSUMMARIZED-th newest message."""
    with sqlite3.connect(db_path, timeout=30) as db:
        message_id = leaf
        for _ in range(UNSUMMARIZED):
            (message_id,) = db.execute(
                "SELECT parent_id FROM messages WHERE message_id = ?", (message_id,)
            ).fetchone()
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
        db.execute(
            "INSERT INTO summaries (summary_id, session_id, covers_through_message_id,"
            " covered_messages, text, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), session_id, message_id, 1, "An earlier talk about tests.", now),
        )


def profiled_session(url: str, memory: str | None) -> str:
    body: dict[str, Any] = {}
    if memory is not None:
        profile = {"name": f"bench-{memory}", "memory": {"type": memory}}
        body["profile_id"] = httpx.post(f"{url}/api/profiles", json=profile).json()["profile_id"]
    return str(httpx.post(f"{url}/api/sessions", json=body).json()["session_id"])


def turns_of(url: str, session_id: str, turns: int) -> list[float]:
    samples, _ = asyncio.run(
        stream_turns(
            url,
            scenarios.service_request("/api/chat", [session_id]),
            scenarios.DIRECT_TOKEN,
            1,
            turns=turns,
        )
    )
    assert all(s.status == 200 for s in samples), "a turn failed"
    return [1000 * s.last_byte for s in samples]


def run(messages: int, rounds: int, turns: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        FastLLM(Path(tmp)) as llm,
        Service(Path(tmp), llm.url) as service,
    ):
        sessions = {
            "plain": profiled_session(service.url, None),
            "buffer_profile": profiled_session(service.url, "buffer"),
            "summary_profile": profiled_session(service.url, "summary"),
        }
        for name, session_id in sessions.items():
            leaf = scenarios.seed_history(service.db_path, session_id, messages)
            if name == "summary_profile":
                summarize_all_but_newest(service.db_path, session_id, leaf)
        latencies: dict[str, list[float]] = {name: [] for name in sessions}
        for _ in range(rounds):
            for name, session_id in sessions.items():
                latencies[name] += turns_of(service.url, session_id, turns)
        summary_session = sessions["summary_profile"]
        written = httpx.get(
            f"{service.url}/api/sessions/{summary_session}/summaries", params={"limit": 100}
        ).json()["items"]
    plain = median(latencies["plain"])
    return {
        name: {
            "turn_p50_ms": round(median(values), 3),
            "turn_p99_ms": round(percentile(values, 99), 3),
            "ratio_to_plain": round(median(values) / plain, 3),
            "turns": len(values),
        }
        for name, values in latencies.items()
    } | {"messages": messages, "summaries_written": len(written) - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print_figures(run(args.messages, args.rounds, args.turns), args.json)


if __name__ == "__main__":
    main()
