"""Print bench/run.py's results as tables, then each target with its figure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Target = tuple[str, Callable[[dict[str, Any]], float], str, float]


def _row(rows: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    return next(r for r in rows if r["concurrency"] == concurrency)


def _history(results: dict[str, Any], messages: int, branches: int) -> dict[str, Any]:
    """A row of the history scenario (results before trees have no `branches`: 1)."""
    return next(
        h
        for h in results["history"]
        if (h["messages"], h.get("branches", 1)) == (messages, branches)
    )


TARGETS: list[Target] = [
    (
        "added p50 latency, whole reply, c=1 (ms)",
        lambda r: _row(r["non_streamed"], 1)["added_p50_ms"],
        "<=",
        1.5,
    ),
    (
        "added time to first token, stream, c=1 (ms)",
        lambda r: _row(r["streamed"], 1)["added_ttft_ms"],
        "<=",
        1.5,
    ),
    (
        "persisted turns/s, c=16",
        lambda r: _row(r["non_streamed"], 16)["service"]["rps"],
        ">=",
        1000,
    ),
    (
        "persisted turns/s, c=64",
        lambda r: _row(r["non_streamed"], 64)["service"]["rps"],
        ">=",
        1000,
    ),
    (
        "turn latency at 100,000 messages / at 10",
        lambda r: _history(r, 100_000, 1)["ratio_to_smallest"],
        "<=",
        1.1,
    ),
    (
        "turn latency at 100,000 messages in 1,000 branches / at 10",
        lambda r: _history(r, 100_000, 1_000)["ratio_to_smallest"],
        "<=",
        1.1,
    ),
    (
        "RSS per slow stream (KiB)",
        lambda r: r["slow_streams"]["rss_per_stream_kib"],
        "<=",
        100,
    ),
    (
        "added p99 delay per token, slow streams (ms)",
        lambda r: r["slow_streams"]["added_gap_p99_ms"],
        "<=",
        5,
    ),
    (
        "real model TTFT, service / direct (fresh prompt)",
        lambda r: r["local_model"]["fresh prompt"]["ratio_ttft"],
        "<=",
        1.02,
    ),
]


def target_results(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with its measured figure; `met` is None when not measured."""
    rows = []
    for name, figure, sense, limit in TARGETS:
        try:
            value: float | None = float(figure(results))
        except (KeyError, StopIteration, TypeError):
            value = None
        met = None if value is None else (value <= limit if sense == "<=" else value >= limit)
        rows.append({"target": name, "limit": f"{sense} {limit}", "value": value, "met": met})
    return rows


def _arrow(row: dict[str, Any], key: str, digits: int) -> str:
    """A figure direct -> through the service."""
    return f"{row['direct'][key]:.{digits}f} -> {row['service'][key]:.{digits}f}"


def _table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in [h, *(r[i] for r in rows)]) for i, h in enumerate(header)]
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=True)))


def print_report(report: dict[str, Any]) -> None:
    results = report["results"]
    if "fast_llm" in results:
        print(f"fast fake LLM alone: {results['fast_llm']['rps']:.0f} requests/s at c=64")
    if "non_streamed" in results:
        _table(
            "Whole replies (wrk): direct -> service",
            ["c", "turns/s", "p50 ms", "p99 ms", "added p50", "turns/s ratio", "failed"],
            [
                [
                    r["concurrency"],
                    _arrow(r, "rps", 0),
                    _arrow(r, "p50_ms", 2),
                    _arrow(r, "p99_ms", 2),
                    r["added_p50_ms"],
                    r["rps_ratio"],
                    r["service_failed"],
                ]
                for r in results["non_streamed"]
            ],
        )
    if "streamed" in results:
        _table(
            "Streams: direct -> service",
            ["c", "TTFT ms", "added TTFT", "streams/s", "tokens/s", "streams ratio", "failed"],
            [
                [
                    r["concurrency"],
                    _arrow(r, "ttft_ms", 2),
                    r["added_ttft_ms"],
                    _arrow(r, "streams_per_s", 0),
                    _arrow(r, "tokens_per_s", 0),
                    r["streams_ratio"],
                    r["service_failed"],
                ]
                for r in results["streamed"]
            ],
        )
    if "history" in results:
        _table(
            "History length (turn latency, c=1)",
            ["messages", "branches", "p50 ms", "p99 ms", "ratio to smallest", "turns"],
            [
                [h.get(key, 1) for key in ("messages", "branches", "turn_p50_ms", "turn_p99_ms")]
                + [h["ratio_to_smallest"], h["turns"]]
                for h in results["history"]
            ],
        )
    if "slow_streams" in results:
        slow = results["slow_streams"]
        direct, service = slow["direct"], slow["service"]
        print(
            f"\nSlow streams: {slow['streams']} at a token every {slow['token_delay_ms']:.0f} ms;"
            f" completed {direct['completed']} direct, {service['completed']} service;"
            f" gap p99 {direct['gap_p99_ms']} -> {service['gap_p99_ms']} ms"
            f" (added {slow['added_gap_p99_ms']});"
            f" RSS {slow['idle_rss_kib']} KiB idle, {service['peak_rss_kib']} KiB peak"
            f" = {slow['rss_per_stream_kib']} KiB per stream"
        )
    if "workers" in results:
        _table(
            "Workers (whole replies, top concurrency)",
            ["workers", "turns/s", "p50 ms", "p99 ms", "ratio to 1"],
            [
                [w["workers"], w["rps"], w["p50_ms"], w["p99_ms"], w["rps_ratio_to_one"]]
                for w in results["workers"]
            ],
        )
    if "local_model" in results:
        print(f"\nReal local model: {results['local_model']}")
    _table(
        "Targets",
        ["target", "limit", "measured", "met"],
        [
            [t["target"], t["limit"], t["value"], {None: "-", True: "yes", False: "NO"}[t["met"]]]
            for t in target_results(results)
        ],
    )
