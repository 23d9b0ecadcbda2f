"""Concurrency proof with figures: gunicorn workers on one SQLite file, many clients.

    .venv/bin/python bench/concurrency.py [--workers 4] [--clients 200]
                                          [--sessions 1000] [--turns 2] [--contenders 50]
                                          [--rounds 10] [--json out.json]

1. `clients` concurrent clients create `sessions` sessions and drive each through
   `turns` whole-reply turns; every history is then read back and checked (complete,
   user/assistant alternating, each reply answering its own message, in order).
2. `contenders` clients send a turn to one session at the same instant, `rounds`
   times; each round must have exactly one 200 and the rest 409.

Prints the statuses, turns/s, and the failures found; exits 1 on any failure.
The same checks at the default size run in the test suite (tests/test_concurrency.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import Service, fake_llm_in_tempdir, print_figures  # noqa: E402
from tests.load import many_sessions, one_session_rounds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--contenders", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with (
        fake_llm_in_tempdir() as (llm, workdir),
        Service(workdir / "app", llm.url, workers=args.workers) as app,
    ):
        load = asyncio.run(many_sessions(app.url, args.clients, args.sessions, args.turns))
        llm.script(*[{"reply": "overlapping", "delay": 2.0}] * args.rounds)
        _, rounds = asyncio.run(one_session_rounds(app.url, args.contenders, args.rounds))
        locked = app.output().count("database is locked")
    expected_round = {200: 1, 409: args.contenders - 1}
    figures = {
        "workers": args.workers,
        "many_sessions": load.summary(),
        "bad_histories": load.bad_histories[:10],
        "database_is_locked_in_log": locked,
        "one_session": {
            "contenders": args.contenders,
            "rounds": args.rounds,
            "rounds_with_exactly_one_winner": sum(dict(r) == expected_round for r in rounds),
            "statuses_per_round": [dict(sorted(r.items())) for r in rounds],
        },
    }
    print_figures(figures, args.json)
    failed = (
        load.server_errors
        or load.bad_histories
        or locked
        or figures["one_session"]["rounds_with_exactly_one_winner"] != args.rounds
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
