"""kill -9 campaign with figures: clients stream turns, the service is killed at a
random moment, restarted and its database checked, over and over.

    .venv/bin/python bench/kill9.py [--kills 12] [--clients 8] [--seed 6] [--json out.json]

Prints kills, turns started, acknowledged user messages, replies seen done, lost
acknowledged messages, done replies not stored whole, messages left streaming and
integrity checks passed (tests/crash.py has the rules); exits 1 on any loss.
tests/test_crash.py runs a small campaign in the suite.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import App, fake_llm_in_tempdir, print_figures  # noqa: E402
from tests.crash import kill_rounds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with fake_llm_in_tempdir() as (llm, workdir):
        app = App(workdir / "app", llm.url, checkpoint_seconds=0.05, log_level="WARNING")
        try:
            app.start()
            report = kill_rounds(app, llm, args.kills, args.clients, random.Random(args.seed))
        finally:
            app.stop()
    print_figures(report.summary(), args.json)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
