"""TTFT and tokens/s on the real local model: through the service vs direct.

    .venv/bin/python bench/local_model.py [--rounds 15] [--tokens 64] [--json out.json]

Starts `python main.py` with the default LLM_SERVER_URL (so the service starts
llama.cpp + SmolLM2 itself), reads the model server's URL from /api/health, then
alternates the same streamed, greedy request sent directly to the model server
and through the service (a new session each time, so both prompts are the same
single user message). Alternating keeps the ratios honest on a shared machine.
Prints medians and service/direct ratios; writes them as JSON when asked.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Write a long story about a lighthouse keeper and the sea."


@dataclass
class Sample:
    ttft: float  # seconds from sending the request to the first text
    total: float  # seconds to the end of the stream
    chunks: int  # text chunks (one per token on llama.cpp)

    @property
    def tokens_per_second(self) -> float:
        decode = self.total - self.ttft
        return (self.chunks - 1) / decode if decode > 0 and self.chunks > 1 else 0.0


def timed_stream(client: httpx.Client, url: str, body: dict[str, Any], text_of: Any) -> Sample:
    started = time.perf_counter()
    first: float | None = None
    chunks = 0
    with connect_sse(client, "POST", url, json=body) as source:
        source.response.raise_for_status()
        for event in source.iter_sse():
            if event.data.strip() == "[DONE]":
                break
            text = text_of(event)
            if text:
                chunks += 1
                if first is None:
                    first = time.perf_counter() - started
    total = time.perf_counter() - started
    return Sample(first if first is not None else total, total, chunks)


def direct_text(event: Any) -> str:
    choices = json.loads(event.data).get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


def service_text(event: Any) -> str:
    return str(json.loads(event.data).get("content") or "") if event.event == "delta" else ""


def start_service(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "LOCAL_"))}
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=str(workdir / "bench.db"),
        LOG_LEVEL="WARNING",
    )
    log = (workdir / "service.log").open("wb")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "main.py")], cwd=workdir, env=env, stdout=log, stderr=log
    )


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the service exited; see its log")
        try:
            health = httpx.get(f"{base}/api/health", timeout=5)
            if health.status_code == 200 and health.json()["llm"]["ok"]:
                return dict(health.json())
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the service did not become ready")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--port", type=int, default=18931)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory() as tmp:
        launched = time.perf_counter()
        service = start_service(Path(tmp), args.port)
        try:
            health = wait_ready(base, service)
            startup = time.perf_counter() - launched
            results = {
                kind: run_rounds(base, health["llm"]["url"], args.rounds, args.tokens, fresh)
                for kind, fresh in (("fresh prompt", True), ("cached prompt", False))
            }
        finally:
            service.terminate()
            service.wait(30)
    report(results, startup, args)


def run_rounds(
    base: str, model_url: str, rounds: int, tokens: int, fresh: bool
) -> dict[str, list[Sample]]:
    """Alternate direct and service calls. fresh: every call's prompt starts
    differently, so llama.cpp's prompt cache cannot skip the prefill (a new chat
    turn); otherwise every call repeats one prompt (the cached best case)."""
    results: dict[str, list[Sample]] = {"direct": [], "service": []}
    completions = f"{model_url}/v1/chat/completions"
    with httpx.Client(timeout=300) as client:
        for index in range(-1, rounds):  # round -1 warms both paths up
            for name in ("direct", "service"):
                prompt = f"{index} {name}: {PROMPT}" if fresh else PROMPT
                if name == "direct":
                    body = {
                        "model": "smollm2",
                        "messages": [{"role": "user", "content": prompt}],
                        "max_tokens": tokens,
                        "temperature": 0.0,
                        "stream": True,
                    }
                    sample = timed_stream(client, completions, body, direct_text)
                else:
                    body = {"message": prompt, "max_new_tokens": tokens, "do_sample": False}
                    sample = timed_stream(client, f"{base}/api/chat/stream", body, service_text)
                if index >= 0:
                    results[name].append(sample)
    return results


def summarize(samples: dict[str, list[Sample]]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, runs in samples.items():
        figures[name] = {
            "ttft_ms": round(median([s.ttft for s in runs]) * 1000, 1),
            "tokens_per_s": round(median([s.tokens_per_second for s in runs]), 1),
            "total_ms": round(median([s.total for s in runs]) * 1000, 1),
            "chunks": median([float(s.chunks) for s in runs]),
        }
    direct, service = figures["direct"], figures["service"]
    figures["ratio_ttft"] = round(service["ttft_ms"] / direct["ttft_ms"], 3)
    figures["ratio_tokens_per_s"] = round(service["tokens_per_s"] / direct["tokens_per_s"], 3)
    figures["added_ttft_ms"] = round(service["ttft_ms"] - direct["ttft_ms"], 1)
    return figures


def report(
    results: dict[str, dict[str, list[Sample]]], startup: float, args: argparse.Namespace
) -> None:
    figures: dict[str, Any] = {"rounds": args.rounds, "max_tokens": args.tokens}
    figures["startup_seconds"] = round(startup, 2)
    print(f"service + local model ready in {startup:.1f} s; {args.rounds} alternating rounds")
    print(f"{'':24}{'TTFT ms':>10}{'tokens/s':>10}{'total ms':>10}{'chunks':>8}")
    for kind, samples in results.items():
        figures[kind] = summary = summarize(samples)
        for name in ("direct", "service"):
            row = summary[name]
            print(
                f"{kind + ', ' + name:24}{row['ttft_ms']:>10}{row['tokens_per_s']:>10}"
                f"{row['total_ms']:>10}{row['chunks']:>8}"
            )
        print(
            f"{kind}: service/direct TTFT x{summary['ratio_ttft']} "
            f"(+{summary['added_ttft_ms']} ms), tokens/s x{summary['ratio_tokens_per_s']}"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
