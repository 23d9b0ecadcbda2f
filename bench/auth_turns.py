"""Whole-reply turns/s with AUTH_MODE=api_key (and the default rate limits) beside
AUTH_MODE=none, in one run: what checking a key costs a turn.

    .venv/bin/python bench/auth_turns.py [--rounds 3] [--seconds 3]
                                         [--concurrency 1 16]

Both services run on the same fast fake LLM, measured in alternating wrk rounds.
With keys, every session has a key of its own (a non-admin key owning it), so that
the default limits (RATE_LIMIT, RATE_LIMIT_CONCURRENT_STREAMS per key) are counted on
every request but never reached: the figure is the cost of the checks, not of 429s.
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
    """Sessions each owned by a key of its own, as `id<TAB>key` lines for wrk."""
    ids = scenarios.new_sessions(service, count)
    names = [f"b{session_id[:30]}" for session_id in ids]
    keys = asyncio.run(new_keys(str(service.db_path), names))
    with service.db() as db:
        db.executemany(
            "UPDATE sessions SET owner = ? WHERE session_id = ?", list(zip(names, ids, strict=True))
        )
    return [f"{session_id}\t{key}" for session_id, key in zip(ids, keys, strict=True)]


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
