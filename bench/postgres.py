"""PostgreSQL figures, in one run beside SQLite: turns/s and added p50 with 1, 2 and 3
instances against SQLite with one; the latency of a stop sent to another instance;
the time copy-database takes for a 100,000-message database. The floor (bench/floor.py:
the minimal persisted turn, asyncpg with no ORM on PostgreSQL) runs beside the
service on each database, so the PostgreSQL figures also read as a ratio to it.

    .venv/bin/python bench/postgres.py [--rounds 3] [--seconds 3] [--messages 100000]
                                       [--stops 20] [--json FILE]

Starts its own PostgreSQL server (Debian's, as the tests do), the fast fake LLM and
the services on 127.0.0.1. Several instances stand for a load balancer's backends:
the connections of a run are split between them, one wrk per instance at once, and
their turns/s added. Everything shares this machine's cores (2 here): the figures
say what the database costs a turn, not what more machines would add.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from bench.harness import App, FastLLM, Floor, Service, free_port, print_figures  # noqa: E402
from bench.loadgen import median, run_wrk  # noqa: E402
from tests.postgres import PostgresServer, running_server  # noqa: E402

SETUPS = {"sqlite x1": ("sqlite", 1), **{f"postgresql x{n}": ("postgresql", n) for n in (1, 2, 3)}}
# The floor on each database: True for a PostgreSQL database of its own.
FLOORS = {"floor sqlite": False, "floor postgresql": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp) / "pg", free_port()) as pg:
        workdir = Path(tmp)
        figures = {
            "turns": turns(pg, workdir, args),
            "stop_latency": stop_latency(pg, workdir, args.stops),
            "copy_database": copy_time(pg, workdir, args.messages),
        }
    print_figures(figures, args.json)


def turns(pg: PostgresServer, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Whole-reply turns per setup and concurrency, alternated round by round; the
    floor (bench/floor.py) on each database beside them."""
    with FastLLM(workdir) as llm, ExitStack() as stack:
        setups: dict[str, list[Any]] = {}
        for name, (database, count) in SETUPS.items():
            url = pg.create_database("bench") if database == "postgresql" else None
            settings: dict[str, Any] = {"database_url": url} if url else {}
            folders = [workdir / f"{database}-{count}-{n}" for n in range(count)]
            setups[name] = [
                stack.enter_context(Service(folder, llm.url, **settings)) for folder in folders
            ]
        for name, on_postgres in FLOORS.items():
            database_url = pg.create_database("floor") if on_postgres else None
            setups[name] = [stack.enter_context(Floor(workdir, llm.url, database_url=database_url))]
        direct_body = scenarios.direct_body(stream=False).decode()
        result: dict[str, Any] = {}
        for connections in args.concurrency:
            direct = partial(
                run_wrk, llm.url + scenarios.DIRECT_PATH, direct_body, connections, args.seconds
            )
            runners: dict[str, Callable[[], dict[str, Any]]] = {"direct": direct}
            for name, apps in setups.items():
                make = (
                    scenarios.any_sessions
                    if name in FLOORS
                    else partial(scenarios.new_sessions, apps[0])
                )
                sessions = make(32 * connections)
                runners[name] = partial(spread, apps, sessions, connections, args.seconds)
            runs = scenarios.alternate(args.rounds, runners)
            result[f"c={connections}"] = summarize(runs)
            print(f"c={connections}: {json.dumps(result[f'c={connections}'])}", flush=True)
    return result


def spread(
    apps: list[Any], sessions: list[str], connections: int, seconds: float
) -> dict[str, Any]:
    """One wrk per instance at once, the connections (and sessions) split between them."""
    runs: list[dict[str, Any]] = []

    def run_on(app: Any, share: int, mine: list[str]) -> None:
        runs.append(run_wrk(app.url + "/api/chat", "", share, seconds, mine))

    shares = [connections // len(apps) + (n < connections % len(apps)) for n in range(len(apps))]
    threads = [
        threading.Thread(target=run_on, args=(app, share, sessions[n :: len(apps)]))
        for n, (app, share) in enumerate(zip(apps, shares, strict=True))
        if share
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "rps": sum(run["rps"] for run in runs),
        "p50_ms": median([run["p50_ms"] for run in runs]),
        "failed": sum(run["failed"] + run["socket_errors"] for run in runs),
    }


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    direct_p50 = median([run["p50_ms"] for run in runs["direct"]])
    sqlite_rps = median([run["rps"] for run in runs["sqlite x1"]])
    direct_rps = median([run["rps"] for run in runs["direct"]])
    table: dict[str, Any] = {"direct": {"rps": direct_rps, "p50_ms": round(direct_p50, 3)}}
    for name in [*SETUPS, *FLOORS]:
        rps = median([run["rps"] for run in runs[name]])
        p50 = median([run["p50_ms"] for run in runs[name]])
        table[name] = {
            "turns_per_s": round(rps, 1),
            "added_p50_ms": round(p50 - direct_p50, 3),
            "vs_sqlite_x1": round(rps / sqlite_rps, 3) if sqlite_rps else None,
            "failed": sum(run.get("failed", 0) for run in runs[name]),
        }
    return table


def stop_latency(pg: PostgresServer, workdir: Path, trials: int) -> dict[str, Any]:
    """A stop sent to instance B of a reply instance A streams: from sending it to
    A's client receiving the end. PostgreSQL (LISTEN/NOTIFY) beside two processes
    on one SQLite file (the stop table, polled)."""
    figures: dict[str, Any] = {}
    with FastLLM(workdir, tokens=100_000, token_delay=0.01) as llm:
        databases = {"postgresql": pg.create_database("stops"), "sqlite": str(workdir / "s.db")}
        for name, url in databases.items():
            settings: dict[str, Any] = {"database_url": url}
            with (
                Service(workdir / f"stop-a-{name}", llm.url, **settings) as owner,
                Service(workdir / f"stop-b-{name}", llm.url, **settings) as other,
            ):
                times = [one_stop(owner, other) for _ in range(trials)]
            figures[name] = {
                "median_ms": round(median(times) * 1000, 1),
                "max_ms": round(max(times) * 1000, 1),
                "trials": trials,
            }
    return figures


def one_stop(owner: App, other: App) -> float:
    with (
        httpx.Client(base_url=owner.url, timeout=30) as http,
        httpx.Client(base_url=other.url, timeout=30) as elsewhere,
    ):
        session_id = http.post("/api/sessions").json()["session_id"]
        body = {"session_id": session_id, "message": "go on"}
        with http.stream("POST", "/api/chat/stream", json=body) as response:
            lines = response.iter_lines()
            deltas = 0
            for line in lines:
                deltas += line.startswith("event: delta")
                if deltas == 3:
                    break
            sent = time.perf_counter()
            elsewhere.post(f"/api/sessions/{session_id}/stop")
            for line in lines:
                if line.startswith(("event: done", "event: error")):
                    return time.perf_counter() - sent
    raise RuntimeError("the stopped stream never ended")


def copy_time(pg: PostgresServer, workdir: Path, messages: int) -> dict[str, Any]:
    """A SQLite database of `messages` messages (100 per session) copied into an
    empty PostgreSQL database by `python main.py copy-database`."""
    with FastLLM(workdir) as llm, Service(workdir / "copy", llm.url) as source:
        sessions = scenarios.new_sessions(source, messages // 100)
        for session_id in sessions:
            scenarios.seed_history(source.db_path, session_id, 100)
    target = pg.create_database("copy")
    started = time.perf_counter()
    run = source.run_cli("copy-database", "--to", target, timeout=3600)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(run.stderr)
    print(run.stdout.strip(), flush=True)
    return {
        "messages": messages,
        "sessions": len(sessions),
        "seconds": round(seconds, 2),
        "messages_per_s": round(messages / seconds),
        "source_mb": round(sum(f.stat().st_size for f in source.workdir.glob("chat.db*")) / 1e6, 1),
    }


if __name__ == "__main__":
    main()
