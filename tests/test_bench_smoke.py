"""The benchmark suite still runs: `bench/run.py --smoke` for a few seconds.

CI checks only that every scenario runs and reports its figures; the figures of
a smoke run mean nothing and nothing here asserts a speed (docs/BENCHMARKS.md
has the real run). wrk is a Debian package that .ci/run installs; elsewhere the
test is skipped when it is missing, unless CI is set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_the_benchmark_suite_runs_every_scenario(tmp_path: Path) -> None:
    if shutil.which("wrk") is None and not os.environ.get("CI"):
        pytest.skip("wrk is not installed (apt-get install wrk); CI installs it")
    out = tmp_path / "smoke.json"
    scenarios = ["fast_llm", "non_streamed", "streamed", "history", "slow_streams", "workers"]
    done = subprocess.run(
        [sys.executable, "bench/run.py", "--smoke", "--json", str(out), "--only", *scenarios],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    results = report["results"]
    assert report["smoke"] is True
    assert set(results) == set(scenarios)
    assert results["fast_llm"]["rps"] > 0
    for scenario in ("non_streamed", "streamed"):
        for row in results[scenario]:
            assert row["direct"]["p50_ms" if scenario == "non_streamed" else "ttft_ms"] > 0
            assert row["service"]["p50_ms" if scenario == "non_streamed" else "ttft_ms"] > 0
    assert all(row["turns"] > 0 for row in results["history"])
    slow = results["slow_streams"]
    assert slow["service"]["completed"] == slow["streams"] == slow["direct"]["completed"]
    assert [row["workers"] for row in results["workers"]] == [1, 2]
    assert all(row["rps"] > 0 for row in results["workers"])
    assert "Targets" in done.stdout
