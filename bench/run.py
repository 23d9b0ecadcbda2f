"""The benchmark suite: the service against the same calls made directly to the LLM.

    .venv/bin/python bench/run.py [--json bench/results.json] [--only NAME ...]
                                  [--rounds 5] [--seconds 3] [--smoke]

Scenarios (see bench/scenarios.py), each as medians, direct vs service, and ratios:
  fast_llm      the fast fake LLM alone: requests/s it serves (it must not be the
                bottleneck being measured)
  non_streamed  wrk, whole replies, concurrency 1/16/64: turns/s, p50/p99 latency
  streamed      streams, concurrency 1/16/64: added time to first token, streams/s,
                relayed tokens/s
  history       per-turn latency in sessions of 10, 1,000 and 100,000 messages, and
                of 100,000 in 1,000 branches
  slow_streams  1,000 concurrent streams of a token every 100 ms in one worker:
                RSS per stream and added p99 delay per token
  workers       1 vs 2 gunicorn workers, whole replies at concurrency 64
  local_model   the real local model (when installed): TTFT and tokens/s, through
                the service vs direct (bench/local_model.py)

The fake LLM answers 32 tokens at once. `--smoke` runs every scenario for a moment
(CI checks that the suite still runs; its figures mean nothing). Needs `wrk`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from bench.harness import FastLLM, Service  # noqa: E402
from bench.loadgen import median, run_wrk, wrk_available  # noqa: E402
from bench.report import print_report  # noqa: E402

SCENARIOS = (
    "fast_llm",
    "non_streamed",
    "streamed",
    "history",
    "slow_streams",
    "workers",
    "local_model",
)
SMOKE = scenarios.Budget(
    rounds=1,
    seconds=1,
    concurrency=(1, 4),
    history=((10, 1), (200, 1), (200, 10)),
    history_turns=4,
    slow_streams=20,
    slow_tokens=4,
    slow_delay=0.05,
    workers=(1, 2),
)


def fast_llm_capacity(llm: FastLLM, budget: scenarios.Budget) -> dict[str, Any]:
    body = scenarios.direct_body(stream=False).decode()
    runs = [
        run_wrk(llm.url + scenarios.DIRECT_PATH, body, 64, budget.seconds)
        for _ in range(budget.rounds)
    ]
    return {"rps": median([run["rps"] for run in runs])}


def local_model(workdir: Path, smoke: bool) -> dict[str, Any]:
    if importlib.util.find_spec("llama_cpp") is None:
        return {"skipped": "the local model is not installed (make install-llm)"}
    out = workdir / "local_model.json"
    rounds = ["--rounds", "1", "--tokens", "8"] if smoke else []
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "local_model.py"), "--json", str(out), *rounds],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return dict(json.loads(out.read_text()))


def run(names: list[str], budget: scenarios.Budget, smoke: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with FastLLM(workdir) as llm:
            if "fast_llm" in names:
                results["fast_llm"] = fast_llm_capacity(llm, budget)
            if {"non_streamed", "streamed", "history"} & set(names):
                with Service(workdir / "service", llm.url) as service:
                    for name in ("non_streamed", "streamed"):
                        if name in names:
                            results[name] = getattr(scenarios, name)(llm, service, budget)
                    if "history" in names:
                        results["history"] = scenarios.history_length(service, budget)
            if "workers" in names:
                results["workers"] = scenarios.workers(llm, workdir, budget)
        if "slow_streams" in names:
            results["slow_streams"] = scenarios.slow_streams(workdir, budget)
        if "local_model" in names:
            results["local_model"] = local_model(workdir, smoke)
    return results


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--smoke", action="store_true", help="a few seconds: does it still run")
    args = parser.parse_args()
    if not wrk_available():
        raise SystemExit("wrk is not installed: apt-get install wrk")
    budget = SMOKE if args.smoke else scenarios.Budget()
    overrides = {k: v for k, v in (("rounds", args.rounds), ("seconds", args.seconds)) if v}
    budget = scenarios.Budget(**{**budget.__dict__, **overrides})
    started = time.perf_counter()
    results = run(args.only, budget, args.smoke)
    report = {
        "machine": machine(),
        "budget": budget.__dict__,
        "smoke": args.smoke,
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
