"""Whole-reply turns/s with AUTH_MODE=api_key (and the default rate limits) beside
AUTH_MODE=none, in one run: what checking a key costs a turn.

    .venv/bin/python bench/auth_turns.py [--rounds 3] [--seconds 3]
                                         [--concurrency 1 16]

Both services run on the same fast fake LLM, measured in alternating wrk rounds.
With keys, the sessions belong to KEYS non-admin keys (each owning as many), so that
the default limits (RATE_LIMIT 600/minute, RATE_LIMIT_CONCURRENT_STREAMS 8 per key)
are counted on every request but not reached below 600 turns/s: the figure is the
cost of the checks, not of 429s.
Prints the medians and the api_key/none ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

KEYS = 64  # 600/minute each: 600 turns/s in all before a 429
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from bench.harness import App, FastLLM, Service  # noqa: E402
from bench.loadgen import median, run_wrk  # noqa: E402
from models.auth import Caller  # noqa: E402
from services.keys import KeyService  # noqa: E402
from services.storage import Database  # noqa: E402


async def new_keys(database_url: str, names: list[str]) -> list[str]:
    """`count` non-admin keys, made as `python main.py keys create` makes them."""
    database = Database.open(database_url)
    keys = KeyService(database)
    try:
        by = Caller("bench", admin=True)
        return [(await keys.create(name, False, by))[0] for name in names]
    finally:
        await database.close()


def keyed_sessions(service: App, count: int) -> list[str]:
    """Sessions owned by up to KEYS keys in turn, as `id<TAB>key` lines for wrk."""
    ids = scenarios.new_sessions(service, count)
    names = [f"b{session_id[:30]}" for session_id in ids[:KEYS]]
    keys = asyncio.run(new_keys(str(service.db_path), names))
    owners = [(names[n % len(names)], session_id) for n, session_id in enumerate(ids)]
    with service.db() as db:
        db.executemany("UPDATE sessions SET owner = ? WHERE session_id = ?", owners)
    return [f"{session_id}\t{keys[n % len(keys)]}" for n, session_id in enumerate(ids)]


def measure(url: str, sessions: list[str], connections: int, seconds: float) -> dict[str, float]:
    run = run_wrk(url + "/api/chat", "", connections, seconds, sessions)
    if failed := run["failed"] + run["socket_errors"]:
        raise RuntimeError(f"{url}: {failed} failed requests")
    return {"rps": run["rps"], "p50_ms": run["p50_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            FastLLM(workdir) as llm,
            Service(workdir / "none", llm.url, auth_mode="none") as open_service,
            Service(workdir / "keys", llm.url, auth_mode="api_key") as keyed,
        ):
            for connections in args.concurrency:
                count = 32 * connections
                runs = scenarios.alternate(
                    args.rounds,
                    {
                        "none": partial(
                            measure,
                            open_service.url,
                            scenarios.new_sessions(open_service, count),
                            connections,
                            args.seconds,
                        ),
                        "api_key": partial(
                            measure,
                            keyed.url,
                            keyed_sessions(keyed, count),
                            connections,
                            args.seconds,
                        ),
                    },
                )
                report(connections, runs)


def report(connections: int, runs: dict[str, list[dict[str, Any]]]) -> None:
    medians = {
        name: {key: median([run[key] for run in results]) for key in results[0]}
        for name, results in runs.items()
    }
    none, keys = medians["none"], medians["api_key"]
    print(
        f"c={connections}: turns/s none {none['rps']:.1f}, api_key {keys['rps']:.1f}"
        f" (x{keys['rps'] / none['rps']:.2f}); p50 {none['p50_ms']:.2f} -> {keys['p50_ms']:.2f} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
