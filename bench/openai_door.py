"""The OpenAI door's cost: /v1/chat/completions with a session (metadata.session_id)
against /api/chat, whole replies, in one run on one service.

    .venv/bin/python bench/openai_door.py [--rounds 5] [--seconds 3]
                                          [--concurrency 1 16] [--json FILE]

Starts bench/fast_llm.py and the service (one worker, SQLite) on 127.0.0.1; wrk
sends the turns of both routes to the same sessions, alternated round by round, and
the medians are printed with the ratio /v1 ÷ /api.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from bench.harness import FastLLM, Service, print_figures  # noqa: E402
from bench.loadgen import median, run_wrk  # noqa: E402

V1_TEMPLATE = (
    '{"model":"m","messages":[{"role":"user","content":"hello"}],"metadata":{"session_id":"%s"}}'
)
ROUTES = {"/api/chat": None, "/v1/chat/completions": V1_TEMPLATE}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        FastLLM(Path(tmp)) as llm,
        Service(Path(tmp) / "service", llm.url) as app,
    ):
        for connections in args.concurrency:
            sessions = scenarios.new_sessions(app, 32 * connections)
            runners: dict[str, Callable[[], dict[str, Any]]] = {
                path: partial(
                    run_wrk, app.url + path, "", connections, args.seconds, sessions,
                    **({"template": template} if template else {}),
                )
                for path, template in ROUTES.items()
            }  # fmt: skip
            runs = scenarios.alternate(args.rounds, runners)
            figures[f"c={connections}"] = summarize(runs)
            print(f"c={connections}: {figures[f'c={connections}']}", flush=True)
    print_figures(figures, args.json)


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for path, results in runs.items():
        table[path] = {
            "turns_per_s": round(median([r["rps"] for r in results]), 1),
            "p50_ms": round(median([r["p50_ms"] for r in results]), 3),
            "failed": sum(r["failed"] + r["socket_errors"] for r in results),
        }
    api, v1 = table["/api/chat"], table["/v1/chat/completions"]
    table["v1_over_api"] = {
        "turns_per_s": round(v1["turns_per_s"] / api["turns_per_s"], 3),
        "p50_ms": round(v1["p50_ms"] / api["p50_ms"], 3),
    }
    return table


if __name__ == "__main__":
    main()
