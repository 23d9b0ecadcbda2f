"""Before/after figures for a change: two revisions of the service, in one run.

    .venv/bin/python bench/compare.py [--base HEAD] [--rounds 5] [--seconds 3]
                                      [--concurrency 1 16 64] [--stream]

Checks out `--base` into a temporary git worktree, starts it and the working tree
as two services on the same fast fake LLM, and alternates wrk runs (or stream runs
with --stream) between them, so a noisy shared machine moves both alike. Prints
medians and after/before ratios: the figures an optimisation's commit message needs.
"""

from __future__ import annotations

import argparse
import subprocess
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


def measure(service: App, connections: int, seconds: float, stream: bool) -> dict[str, float]:
    sessions = scenarios.new_sessions(service, 32 * connections)
    if not stream:
        run = run_wrk(service.url + "/api/chat", "", connections, seconds, sessions)
        return {"rps": run["rps"], "p50_ms": run["p50_ms"], "p99_ms": run["p99_ms"]}
    figures = scenarios.run_streams(
        service.url,
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
    ):
        for connections in args.concurrency:
            runs = scenarios.alternate(
                args.rounds,
                {
                    name: partial(measure, service, connections, args.seconds, args.stream)
                    for name, service in (("before", before), ("after", after))
                },
            )
            report(connections, runs)


def report(connections: int, runs: dict[str, list[dict[str, Any]]]) -> None:
    keys = list(runs["before"][0])
    medians: dict[str, Any] = {
        name: {key: median([run[key] for run in results]) for key in keys}
        for name, results in runs.items()
    }
    figures = ", ".join(
        f"{key} {medians['before'][key]:.2f} -> {medians['after'][key]:.2f}"
        f" (x{medians['after'][key] / medians['before'][key]:.2f})"
        for key in keys
    )
    print(f"c={connections}: {figures}", flush=True)


if __name__ == "__main__":
    main()
