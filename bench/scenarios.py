"""The benchmark scenarios; each returns medians, direct vs service, and ratios.

Direct means the same request sent straight to the fast fake LLM server; service
means through the chat service, which stores both messages of every turn. The two
alternate round by round, so a noisy shared machine moves both alike.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.harness import App, FastLLM, Service, pid_of, rss_kib
from bench.loadgen import StreamSample, http_post, median, percentile, run_wrk, stream_turns

DIRECT_PATH = "/v1/chat/completions"
DIRECT_TOKEN = b'"content"'
SERVICE_TOKEN = b"event: delta"


@dataclass(frozen=True)
class Budget:
    """How long each measurement runs; the smoke run shrinks all of it."""

    rounds: int = 5
    seconds: float = 3.0
    concurrency: tuple[int, ...] = (1, 16, 64)
    # (messages, branches) of the sessions whose turns are timed
    history: tuple[tuple[int, int], ...] = ((10, 1), (1_000, 1), (100_000, 1), (100_000, 1_000))
    history_turns: int = 100
    slow_streams: int = 1000
    slow_tokens: int = 32
    slow_delay: float = 0.1
    workers: tuple[int, ...] = (1, 2)


def direct_body(stream: bool) -> bytes:
    messages = [{"role": "user", "content": "hello"}]
    body = {"model": "bench-model", "messages": messages, "max_tokens": 32, "stream": stream}
    return json.dumps(body).encode()


def any_sessions(count: int) -> list[str]:
    """The floor has no sessions table: any ids will do."""
    return [str(uuid.uuid4()) for _ in range(count)]


def new_sessions(service: App, count: int) -> list[str]:
    """Sessions written straight into the database (SQLite or PostgreSQL): thousands
    in a moment (32 per connection, so that rotating through them never sends two
    turns to one)."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with service.db() as db:
        db.executemany(
            "INSERT INTO sessions (session_id, created_at, last_accessed, metadata,"
            " message_count, last_seq) VALUES (?, ?, ?, '{}', 0, 0)",
            [(session_id, now, now) for session_id in ids],
        )
    return ids


def service_request(path: str, session_ids: list[str]) -> Any:
    def request_for(n: int) -> bytes:
        body = {"session_id": session_ids[n % len(session_ids)], "message": "hello"}
        return http_post(path, json.dumps(body).encode())

    return request_for


def alternate(
    rounds: int, runners: dict[str, Callable[[], dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Each runner once per round, in turn, so that machine noise moves them alike."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, runner in runners.items():
            runs[name].append(runner())
    return runs


def _ratio(service: float, direct: float) -> float:
    return round(service / direct, 3) if direct else float("nan")


def _medians(runs: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, float]:
    return {key: round(median([run[key] for run in runs]), 3) for key in keys}


def non_streamed(llm: FastLLM, service: App, budget: Budget) -> list[dict[str, Any]]:
    """Scenario 1: wrk, whole replies, at each concurrency."""
    rows = []
    for connections in budget.concurrency:
        sessions = new_sessions(service, 32 * connections)
        body = direct_body(stream=False).decode()
        runs = alternate(
            budget.rounds,
            {
                "direct": partial(
                    run_wrk, llm.url + DIRECT_PATH, body, connections, budget.seconds
                ),
                "service": partial(
                    run_wrk, service.url + "/api/chat", "", connections, budget.seconds, sessions
                ),
            },
        )
        keys = ("rps", "p50_ms", "p99_ms")
        direct, through = _medians(runs["direct"], keys), _medians(runs["service"], keys)
        rows.append(
            {
                "concurrency": connections,
                "direct": direct,
                "service": through,
                "added_p50_ms": round(through["p50_ms"] - direct["p50_ms"], 3),
                "p50_ratio": _ratio(through["p50_ms"], direct["p50_ms"]),
                "rps_ratio": _ratio(through["rps"], direct["rps"]),
                "service_failed": sum(r["failed"] + r["socket_errors"] for r in runs["service"]),
            }
        )
    return rows


def _stream_summary(samples: list[StreamSample], wall: float) -> dict[str, float]:
    tokens = sum(len(sample.token_times) for sample in samples)
    return {
        "ttfb_ms": round(1000 * median([s.first_byte for s in samples]), 3),
        "ttft_ms": round(1000 * median([s.first_token for s in samples]), 3),
        "ttft_p99_ms": round(1000 * percentile([s.first_token for s in samples], 99), 3),
        "ttlb_ms": round(1000 * median([s.last_byte for s in samples]), 3),
        "streams_per_s": round(len(samples) / wall, 1),
        "tokens_per_s": round(tokens / wall, 1),
        "failed": sum(1 for s in samples if s.status != 200),
    }


def run_streams(
    url: str, request_for: Any, marker: bytes, concurrency: int, seconds: float
) -> dict[str, float]:
    """Streams on `concurrency` connections for `seconds`: their medians and rates."""
    samples, wall = asyncio.run(stream_turns(url, request_for, marker, concurrency, seconds))
    return _stream_summary(samples, wall)


def streamed(llm: FastLLM, service: App, budget: Budget) -> list[dict[str, Any]]:
    """Scenario 2: streams read token by token, at each concurrency."""
    direct_request = http_post(DIRECT_PATH, direct_body(stream=True))

    def repeat_direct(_: int) -> bytes:
        return direct_request

    rows = []
    for concurrency in budget.concurrency:
        sessions = new_sessions(service, 32 * concurrency)
        through_service = service_request("/api/chat/stream", sessions)
        runs = alternate(
            budget.rounds,
            {
                "direct": partial(
                    run_streams, llm.url, repeat_direct, DIRECT_TOKEN, concurrency, budget.seconds
                ),
                "service": partial(
                    run_streams,
                    service.url,
                    through_service,
                    SERVICE_TOKEN,
                    concurrency,
                    budget.seconds,
                ),
            },
        )
        keys = ("ttfb_ms", "ttft_ms", "ttft_p99_ms", "ttlb_ms", "streams_per_s", "tokens_per_s")
        direct, through = _medians(runs["direct"], keys), _medians(runs["service"], keys)
        rows.append(
            {
                "concurrency": concurrency,
                "direct": direct,
                "service": through,
                "added_ttft_ms": round(through["ttft_ms"] - direct["ttft_ms"], 3),
                "streams_ratio": _ratio(through["streams_per_s"], direct["streams_per_s"]),
                "tokens_ratio": _ratio(through["tokens_per_s"], direct["tokens_per_s"]),
                "service_failed": sum(int(r["failed"]) for r in runs["service"]),
            }
        )
    return rows


def seed_history(db_path: Path, session_id: str, messages: int, branches: int = 1) -> str:
    """Give a session `messages` stored messages in `branches` branches, written
    straight into SQLite; the active leaf is the end of the last branch. Returns it.

    The first branch starts the conversation; each later one leaves a reply of the
    branch before it, at a random point, so the active path runs through several
    branches and is deep (as a conversation regenerated and edited for a long time).
    """
    rng = random.Random(messages * 7919 + branches)
    created = "2026-01-01 00:00:00.000000"
    per_branch = messages // branches
    rows: list[tuple[Any, ...]] = []
    branch_replies: list[str] = []
    for _ in range(branches):
        parent = rng.choice(branch_replies) if branch_replies else None
        branch_replies = []
        for step in range(per_branch):
            seq, message_id = len(rows) + 1, str(uuid.uuid4())
            role = "assistant" if step % 2 else "user"
            text = f"message {seq} of the seeded history"
            rows.append((message_id, session_id, seq, parent, role, text, "complete", created))
            if role == "assistant":
                branch_replies.append(message_id)
            parent = message_id
    leaf = rows[-1][0]
    with sqlite3.connect(db_path, timeout=30) as db:
        db.executemany(
            "INSERT INTO messages (message_id, session_id, seq, parent_id, role, content,"
            " status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute(
            "UPDATE sessions SET last_seq = ?, message_count = ?, active_leaf_id = ?"
            " WHERE session_id = ?",
            (len(rows), len(rows), leaf, session_id),
        )
    return str(leaf)


def _path_reaches(service: App, session_id: str, leaf: str) -> bool:
    """The service reads the seeded session as a conversation ending at `leaf`."""
    page = httpx.get(f"{service.url}/api/sessions/{session_id}/messages", params={"limit": 3})
    items = page.json()["items"]
    return len(items) == 3 and items[-1]["message_id"] == leaf


def history_length(service: App, budget: Budget) -> list[dict[str, Any]]:
    """Scenario 3: one turn at a time in sessions of each history length and shape
    (messages, branches): flat in both is the target."""
    sessions = {shape: new_sessions(service, 1)[0] for shape in budget.history}
    for (size, branches), session_id in sessions.items():
        leaf = seed_history(service.db_path, session_id, size, branches)
        assert _path_reaches(service, session_id, leaf), "the seeded history is not read"
    latencies: dict[tuple[int, int], list[float]] = {shape: [] for shape in budget.history}
    per_round = max(budget.history_turns // budget.rounds, 1)
    for _ in range(budget.rounds):
        for shape, session_id in sessions.items():
            samples, _ = asyncio.run(
                stream_turns(
                    service.url,
                    service_request("/api/chat", [session_id]),
                    DIRECT_TOKEN,
                    1,
                    turns=per_round,
                )
            )
            latencies[shape] += [1000 * s.last_byte for s in samples if s.status == 200]
    smallest = median(latencies[budget.history[0]])
    return [
        {
            "messages": size,
            "branches": branches,
            "turn_p50_ms": round(median(values), 3),
            "turn_p99_ms": round(percentile(values, 99), 3),
            "ratio_to_smallest": _ratio(median(values), smallest),
            "turns": len(values),
        }
        for (size, branches), values in latencies.items()
    ]


def slow_streams(workdir: Path, budget: Budget, **service_settings: Any) -> dict[str, Any]:
    """Scenario 4: many concurrent slow streams in one worker: memory and token delay."""
    count, tokens = budget.slow_streams, budget.slow_tokens
    with FastLLM(workdir, tokens=tokens, token_delay=budget.slow_delay) as llm:
        direct = _slow_run(llm.url, DIRECT_PATH, None, count, DIRECT_TOKEN, None)
        with Service(workdir / "slow", llm.url, **service_settings) as service:
            sessions = new_sessions(service, count)
            asyncio.run(  # warm up: imports, connection pool, caches
                stream_turns(
                    service.url,
                    service_request("/api/chat/stream", sessions),
                    SERVICE_TOKEN,
                    8,
                    turns=8,
                )
            )
            idle_kib = rss_kib(pid_of(service))
            through = _slow_run(
                service.url, "/api/chat/stream", sessions, count, SERVICE_TOKEN, pid_of(service)
            )
    added = through["gap_p99_ms"] - direct["gap_p99_ms"]
    return {
        "streams": count,
        "token_delay_ms": 1000 * budget.slow_delay,
        "direct": direct,
        "service": through,
        "idle_rss_kib": idle_kib,
        "rss_per_stream_kib": round((through["peak_rss_kib"] - idle_kib) / count, 1),
        "added_gap_p99_ms": round(added, 3),
    }


def _slow_run(
    url: str, path: str, sessions: list[str] | None, count: int, marker: bytes, pid: int | None
) -> dict[str, Any]:
    request_for = (
        service_request(path, sessions)
        if sessions
        else (lambda _n: http_post(path, direct_body(stream=True)))
    )
    peak = [0]

    async def sample_memory() -> None:
        while pid is not None:
            peak[0] = max(peak[0], rss_kib(pid))
            await asyncio.sleep(0.2)

    async def run() -> tuple[list[StreamSample], float]:
        sampler = asyncio.create_task(sample_memory())
        try:
            return await stream_turns(url, request_for, marker, count, turns=count)
        finally:
            sampler.cancel()

    samples, wall = asyncio.run(run())
    gaps = [gap for sample in samples for gap in sample.gaps()]
    return {
        "completed": sum(1 for s in samples if s.status == 200 and s.token_times),
        "wall_s": round(wall, 2),
        "gap_p50_ms": round(1000 * median(gaps), 3),
        "gap_p99_ms": round(1000 * percentile(gaps, 99), 3),
        "peak_rss_kib": peak[0],
    }


def workers(llm: FastLLM, workdir: Path, budget: Budget) -> list[dict[str, Any]]:
    """Scenario 5: whole-reply throughput at the top concurrency, 1 vs N workers,
    both services running and measured in alternate rounds."""
    connections = budget.concurrency[-1]
    with ExitStack() as stack:
        services = {
            count: stack.enter_context(Service(workdir / f"workers{count}", llm.url, workers=count))
            for count in budget.workers
        }
        time.sleep(1)  # every worker up and migrated
        sessions = {
            count: new_sessions(service, 32 * connections) for count, service in services.items()
        }
        runs = alternate(
            budget.rounds,
            {
                str(count): partial(
                    run_wrk,
                    service.url + "/api/chat",
                    "",
                    connections,
                    budget.seconds,
                    sessions[count],
                )
                for count, service in services.items()
            },
        )
    rows = [
        {"workers": int(count), **_medians(results, ("rps", "p50_ms", "p99_ms"))}
        for count, results in runs.items()
    ]
    for row in rows:
        row["rps_ratio_to_one"] = _ratio(row["rps"], rows[0]["rps"])
    return rows
