"""Where a turn's time goes: the service in-process under cProfile, N turns over HTTP.

    .venv/bin/python bench/profile_turn.py [--turns 500] [--concurrency 1] [--stream]
                                           [--top 40] [--out profile.pstats] [--postgres]

Starts bench/fast_llm.py (32 tokens at once), then runs the app with uvicorn in this
process's main thread under cProfile while client threads send the turns (whole
replies on POST /api/chat, or streams on POST /api/chat/stream with --stream) on
keep-alive connections. Prints the functions by own time and by cumulative time,
and the CPU milliseconds per turn of the event-loop thread. `--postgres` runs it on a
PostgreSQL server of its own (Debian's, as the tests start it). The database's worker
threads are not profiled: their time shows as waits in the loop.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import pstats
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import FastLLM, free_port  # noqa: E402
from config import Settings  # noqa: E402
from main import create_app  # noqa: E402
from tests.postgres import running_server  # noqa: E402


def send_turns(port: int, turns: int, stream: bool, errors: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    path = "/api/chat/stream" if stream else "/api/chat"
    body = json.dumps({"message": "hello"})
    for _ in range(turns):
        connection.request("POST", path, body, {"content-type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            errors.append(f"{response.status}: {payload[:200]!r}")


def drive(server: uvicorn.Server, port: int, turns: int, concurrency: int, stream: bool) -> None:
    while not server.started:
        time.sleep(0.05)
    errors: list[str] = []
    per_client = max(turns // concurrency, 1)
    clients = [
        threading.Thread(target=send_turns, args=(port, per_client, stream, errors))
        for _ in range(concurrency)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    if errors:
        print(f"{len(errors)} errors, first: {errors[0]}", file=sys.stderr)
    server.should_exit = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--postgres", action="store_true", help="on a PostgreSQL of its own")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as workdir,
        FastLLM(Path(workdir)) as llm,
        ExitStack() as stack,
    ):
        database_url = str(Path(workdir) / "chat.db")
        if args.postgres:
            pg = stack.enter_context(running_server(Path(workdir) / "pg", free_port()))
            database_url = pg.create_database("profile")
        port = free_port()
        settings = Settings(
            database_url=database_url,
            llm_server_url=llm.url,
            log_level="WARNING",
            _env_file=None,
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), port=port, log_level="warning", lifespan="on")
        )
        driver = threading.Thread(
            target=drive, args=(server, port, args.turns, args.concurrency, args.stream)
        )
        driver.start()
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.runcall(server.run)
        elapsed = time.perf_counter() - started
        driver.join()
    stats = pstats.Stats(profiler)
    if args.out:
        stats.dump_stats(args.out)
    total_cpu = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{args.turns} turns in {elapsed:.2f} s; loop thread own time {total_cpu:.2f} s")
    print(f"= {1000 * total_cpu / args.turns:.2f} ms of profiled time per turn")
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
