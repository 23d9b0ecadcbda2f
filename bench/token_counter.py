"""What counting with the LLM server's tokenizer costs a turn: one service with
TOKEN_COUNTER=estimate beside one with TOKEN_COUNTER=server, on the same fast fake
LLM (serving llama.cpp's POST /tokenize), alternating wrk rounds in one run.

    .venv/bin/python bench/token_counter.py [--rounds 5] [--seconds 3]
                                            [--concurrency 1 16] [--stream]

Prints medians as "estimate -> server" with their ratio. The server counter adds one
small upstream call per turn (the new user message); the fake reports usage, so the
reply costs none.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from bench.compare import measure, report  # noqa: E402
from bench.harness import FastLLM, Service  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            FastLLM(workdir, tokenize=True) as llm,
            Service(workdir / "estimate", llm.url, token_counter="estimate") as estimate,
            Service(workdir / "server", llm.url, token_counter="server") as server,
        ):
            print("before = TOKEN_COUNTER=estimate, after = TOKEN_COUNTER=server")
            for connections in args.concurrency:
                runs = scenarios.alternate(
                    args.rounds,
                    {
                        name: partial(
                            measure,
                            service.url,
                            partial(scenarios.new_sessions, service),
                            connections,
                            args.seconds,
                            args.stream,
                        )
                        for name, service in (("before", estimate), ("after", server))
                    },
                )
                report(connections, runs)


if __name__ == "__main__":
    main()
