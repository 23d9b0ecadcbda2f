"""Before/after figures for a change: two revisions of the service, in one run.

    .venv/bin/python bench/compare.py [--base HEAD] [--rounds 5] [--seconds 3]
                                      [--concurrency 1 16 64] [--stream]

Checks out `--base` into a temporary git worktree, starts it and the working tree
as two services on the same fast fake LLM, and alternates wrk runs (or stream runs
with --stream) between them and the floor (bench/floor.py: a minimal persisted turn
on the same libraries), so a noisy shared machine moves all three alike. Prints
medians, after/before ratios (the figures an optimisation's commit message needs)
and each service's ratio to the floor.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from bench.harness import FastLLM, Floor, Service  # noqa: E402
from bench.loadgen import median, run_wrk  # noqa: E402


def measure(
    url: str,
    sessions_for: Callable[[int], list[str]],
    connections: int,
    seconds: float,
    stream: bool,
) -> dict[str, float]:
    """One run against `url`, with fresh sessions (32 per connection)."""
    sessions = sessions_for(32 * connections)
    if not stream:
        run = run_wrk(url + "/api/chat", "", connections, seconds, sessions)
        if failed := run["failed"] + run["socket_errors"]:
            raise RuntimeError(f"{url}: {failed} failed requests")
        return {"rps": run["rps"], "p50_ms": run["p50_ms"], "p99_ms": run["p99_ms"]}
    figures = scenarios.run_streams(
        url,
        scenarios.service_request("/api/chat/stream", sessions),
        scenarios.SERVICE_TOKEN,
        connections,
        seconds,
    )
    return {key: figures[key] for key in ("streams_per_s", "ttft_ms", "ttlb_ms")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="HEAD")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir, base_tree = Path(tmp), Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base_tree), args.base],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            compare(workdir, base_tree, args)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=True
            )


def compare(workdir: Path, base_tree: Path, args: argparse.Namespace) -> None:
    with (
        FastLLM(workdir) as llm,
        Service(workdir / "before", llm.url, tree=base_tree) as before,
        Service(workdir / "after", llm.url) as after,
        Floor(workdir, llm.url) as floor,
    ):
        targets: dict[str, tuple[str, Callable[[int], list[str]]]] = {
            "before": (before.url, partial(scenarios.new_sessions, before)),
            "after": (after.url, partial(scenarios.new_sessions, after)),
            "floor": (floor.url, scenarios.any_sessions),
        }
        for connections in args.concurrency:
            runs = scenarios.alternate(
                args.rounds,
                {
                    name: partial(measure, url, sessions, connections, args.seconds, args.stream)
                    for name, (url, sessions) in targets.items()
                },
            )
            report(connections, runs)


def report(connections: int, runs: dict[str, list[dict[str, Any]]]) -> None:
    keys = list(runs["before"][0])
    medians: dict[str, Any] = {
        name: {key: median([run[key] for run in results]) for key in keys}
        for name, results in runs.items()
    }
    before, after, floor = medians["before"], medians["after"], medians.get("floor")
    figures = ", ".join(
        f"{key} {before[key]:.2f} -> {after[key]:.2f} (x{after[key] / before[key]:.2f}"
        + (
            f"; floor {floor[key]:.2f}, before/floor x{before[key] / floor[key]:.2f},"
            f" after/floor x{after[key] / floor[key]:.2f}"
            if floor
            else ""
        )
        + ")"
        for key in keys
    )
    print(f"c={connections}: {figures}", flush=True)


if __name__ == "__main__":
    main()
