"""What checking an API key costs per request: the same service with AUTH_MODE=none
and with AUTH_MODE=api_key (key lookup, hash comparison, rate-limit count, owner
filter), both running at once and measured in alternating rounds, so the machine's
noise falls on both alike.

    python bench/auth_overhead.py [--rounds 7] [--requests 300] [--json out.json]

Prints the median latency of GET /api/sessions/{id} (a read that also writes the
access mark) and of GET /api/sessions (the list) in each mode, and their ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import App, Service, fake_llm_in_tempdir, print_figures  # noqa: E402

ROUTES = ("one session", "session list")


def median_ms(http: httpx.Client, paths: list[str], requests: int) -> dict[str, float]:
    medians = {}
    for name, path in zip(ROUTES, paths, strict=True):
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            response = http.get(path)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
        medians[name] = statistics.median(timings) * 1000
    return medians


def measure(
    open_app: App, keyed: App, rounds: int, requests: int
) -> dict[str, list[dict[str, float]]]:
    """Per mode, each round's median latencies (ms) by route."""
    key = keyed.create_key("bench")
    clients = {
        "none": open_app.client(),
        "api_key": keyed.client(headers={"Authorization": f"Bearer {key}"}),
    }
    paths = {}
    for mode, http in clients.items():
        session_id = http.post("/api/sessions").json()["session_id"]
        paths[mode] = [f"/api/sessions/{session_id}", "/api/sessions"]
        median_ms(http, paths[mode], 50)  # warm-up
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in clients}
    for _ in range(rounds):
        for mode, http in clients.items():
            results[mode].append(median_ms(http, paths[mode], requests))
    for http in clients.values():
        http.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with (
        fake_llm_in_tempdir() as (llm, workdir),
        Service(workdir / "open", llm.url, auth_mode="none") as open_app,
        Service(workdir / "keyed", llm.url, auth_mode="api_key", rate_limit="") as keyed,
    ):
        rounds = measure(open_app, keyed, args.rounds, args.requests)
    figures: dict[str, object] = {"rounds": args.rounds, "requests_per_round": args.requests}
    for route in ROUTES:
        none = statistics.median(r[route] for r in rounds["none"])
        keyed_ms = statistics.median(r[route] for r in rounds["api_key"])
        figures[route] = {
            "none_ms": round(none, 3),
            "api_key_ms": round(keyed_ms, 3),
            "added_ms": round(keyed_ms - none, 3),
            "ratio": round(keyed_ms / none, 3),
        }
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
