"""Schemathesis, a longer run than the suite's: the real service and fake LLM, every
check but the one tests/fuzz.py names, `--runs` runs of `--examples` per operation.

    .venv/bin/python bench/fuzz.py [--runs 3] [--examples 100] [--json out.json]

Prints, per run and in total: operations, test cases, failures, and whether the
service logged a traceback or a 500; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import App, fake_llm_in_tempdir, print_figures  # noqa: E402
from tests.fuzz import run_schemathesis  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs = []
    with fake_llm_in_tempdir() as (llm, workdir):
        app = App(workdir / "app", llm.url)
        try:
            app.start()
            for number in range(1, args.runs + 1):
                run = run_schemathesis(app.url, args.examples)
                runs.append(
                    {
                        "operations": run.operations,
                        "cases": run.cases,
                        "failures": run.failures,
                        "exit": run.returncode,
                    }
                )
                print(f"run {number}: {runs[-1]}", flush=True)
                if run.returncode:
                    print(run.report())
        finally:
            app.stop()
        log = app.output()
    figures = {
        "runs": runs,
        "cases": sum(r["cases"] for r in runs),
        "failures": sum(r["failures"] for r in runs),
        "failed_runs": sum(1 for r in runs if r["exit"]),
        "tracebacks_logged": log.count("Traceback"),
        "responses_500": log.count('" 500 '),
    }
    print_figures(figures, args.json)
    clean = not (figures["failed_runs"] or figures["tracebacks_logged"] or figures["responses_500"])
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
