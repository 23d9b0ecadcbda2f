"""The chart of docs/BENCHMARKS.md: latency vs concurrency, direct vs service.

.venv/bin/python bench/plot.py [bench/results.json] [docs/benchmarks.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent
PANELS = (
    ("non_streamed", "p50_ms", "Whole reply: p50 latency"),
    ("non_streamed", "p99_ms", "Whole reply: p99 latency"),
    ("streamed", "ttft_ms", "Stream: time to first token (p50)"),
)


def plot(results: dict[str, Any], out: Path) -> None:
    figure, axes = plt.subplots(1, len(PANELS), figsize=(13, 4), constrained_layout=True)
    for axis, (scenario, key, title) in zip(axes, PANELS, strict=True):
        rows = results.get(scenario, [])
        concurrency = [row["concurrency"] for row in rows]
        for side, style in (("direct", "o--"), ("service", "s-")):
            label = "direct to the LLM server" if side == "direct" else "through the service"
            axis.plot(concurrency, [row[side][key] for row in rows], style, label=label)
        axis.set_title(title)
        axis.set_xlabel("concurrent clients")
        axis.set_ylabel("ms (log scale)")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xticks(concurrency, [str(c) for c in concurrency])
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    figure.suptitle("Fake LLM answering 32 tokens at once; every turn persisted (2 cores)")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results.json"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "benchmarks.png"
    plot(json.loads(source.read_text())["results"], out)
    print(f"written {out}")


if __name__ == "__main__":
    main()
