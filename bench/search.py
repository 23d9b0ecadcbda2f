"""Search at scale: GET /api/search and GET /api/sessions?q= on 100,000 sessions and
1,000,000 messages, on SQLite and on PostgreSQL, through the running service.

    .venv/bin/python bench/search.py [--sessions 100000] [--messages-per-session 10]
                                     [--queries 60] [--database sqlite postgresql]
                                     [--json FILE]

The database is migrated by the service's own code, then filled in bulk through its
real tables (the FTS5 triggers index every row as it goes in; PostgreSQL's GIN index
is there before the rows are). Text: words of a 20,000-word vocabulary drawn by a
Zipf law (s=1.1), 8-40 words a message, so a few words are in many messages and
most in few, as in real text. Sessions belong to 100 owners (1,000 each).

Queries, timed one at a time over HTTP (the service, one worker, serves them):
- common: one of the vocabulary's 20-100th most frequent words (in ~1% of messages);
- typical: one word of rank 200-5,000;
- rare: one word of rank 5,000-20,000;
- two words: two typical words, both required.
Each as an owner's key (its 1,000 sessions) and as an admin key (every session).
Medians (p50) and p95 in milliseconds; the target is p50 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import FastLLM, Service, free_port, print_figures  # noqa: E402
from tests.postgres import running_server  # noqa: E402

VOCABULARY = 20_000
OWNERS = 100
CLASSES = {"common": (20, 100), "typical": (200, 5_000), "rare": (5_000, 20_000)}
SEED = 22


def vocabulary(rng: random.Random) -> list[str]:
    """Pseudo-words, distinct, 3-10 letters."""
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choices("abcdefghijklmnoprstuvwyz", k=rng.randint(3, 10))))
    return sorted(words, key=lambda w: rng.random())


def zipf_weights() -> list[float]:
    cumulative, total = [], 0.0
    for rank in range(1, VOCABULARY + 1):
        total += 1 / rank**1.1
        cumulative.append(total)
    return cumulative


def rows(sessions: int, per_session: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each session's row and its messages' rows (a chain: user, assistant, ...)."""
    rng = random.Random(SEED)
    words, weights = vocabulary(rng), zipf_weights()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for index in range(sessions):
        session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = start + timedelta(minutes=5 * index)
        session = {
            "session_id": session_id,
            "created_at": created,
            "last_accessed": created + timedelta(minutes=per_session),
            "metadata": "{}",
            "message_count": per_session,
            "last_seq": per_session,
            "owner": f"user{index % OWNERS}",
            "title": " ".join(rng.choices(words, cum_weights=weights, k=4)).capitalize(),
        }
        messages, parent = [], None
        for seq in range(1, per_session + 1):
            message_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            text = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(8, 40)))
            messages.append(
                {
                    "message_id": message_id,
                    "session_id": session_id,
                    "seq": seq,
                    "parent_id": parent,
                    "role": "user" if seq % 2 else "assistant",
                    "content": text.capitalize() + ".",
                    "status": "complete",
                    "created_at": created + timedelta(minutes=seq),
                }
            )
            parent = message_id
        session["active_leaf_id"] = parent
        yield session, messages


async def migrate(database_url: str) -> None:
    from models.database import create_engine, migrate

    engine = create_engine(database_url)
    await migrate(engine)
    await engine.dispose()


def fill(database_url: str, sessions: int, per_session: int) -> float:
    """Migrate, then insert everything in batches; the seconds it took."""
    from sqlalchemy import create_engine, insert

    from models.database import to_sync_url
    from models.message import messages_table
    from models.session import sessions_table

    asyncio.run(migrate(database_url))
    began = time.perf_counter()
    engine = create_engine(to_sync_url(database_url))
    batch_sessions: list[dict[str, Any]] = []
    batch_messages: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for session, messages in rows(sessions, per_session):
            session["metadata"] = {}
            batch_sessions.append(session)
            batch_messages += messages
            if len(batch_sessions) >= 2000:
                conn.execute(insert(sessions_table), batch_sessions)
                conn.execute(insert(messages_table), batch_messages)
                batch_sessions, batch_messages = [], []
        if batch_sessions:
            conn.execute(insert(sessions_table), batch_sessions)
            conn.execute(insert(messages_table), batch_messages)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return time.perf_counter() - began


def queries(count: int) -> dict[str, list[str]]:
    rng = random.Random(SEED)
    words = vocabulary(rng)  # the same order as the data's: rank = position
    picked: dict[str, list[str]] = {}
    for name, (low, high) in CLASSES.items():
        picked[name] = [words[rng.randrange(low, high)] for _ in range(count)]
    low, high = CLASSES["typical"]
    picked["two words"] = [
        f"{words[rng.randrange(low, high)]} {words[rng.randrange(low, high)]}" for _ in range(count)
    ]
    return picked


def timed(http: httpx.Client, path: str, params: dict[str, Any]) -> tuple[float, int]:
    began = time.perf_counter()
    response = http.get(path, params=params)
    elapsed = (time.perf_counter() - began) * 1000
    response.raise_for_status()
    return elapsed, len(response.json()["items"])


def measure(app: Any, keys: dict[str, str], count: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for who, key in keys.items():
        with app.client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            timed(http, "/api/search", {"q": "warmup"})
            for route, path in (("search", "/api/search"), ("list q", "/api/sessions")):
                every: list[float] = []
                for name, texts in queries(count).items():
                    times, found = [], []
                    for text in texts:
                        elapsed, items = timed(http, path, {"q": text, "limit": 20})
                        times.append(elapsed)
                        found.append(items)
                    every += times
                    figures[f"{who} {route} {name}"] = summary(times, found)
                figures[f"{who} {route} all"] = summary(every, [])
                print(
                    f"{who} {route}: p50 {figures[f'{who} {route} all']['p50_ms']} ms", flush=True
                )
    return figures


def summary(times: list[float], found: list[int]) -> dict[str, Any]:
    ordered = sorted(times)
    result: dict[str, Any] = {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
    }
    if found:
        result["median_hits_on_page"] = statistics.median(found)
    return result


def run(database: str, url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    seconds = fill(url, args.sessions, args.messages_per_session)
    print(f"{database}: filled in {seconds:.0f} s", flush=True)
    with (
        FastLLM(workdir) as llm,
        Service(
            workdir / "service",
            llm.url,
            database_url=url,
            auth_mode="api_key",
            session_timeout_hours=0,  # the sessions are from 2025
        ) as app,
    ):
        keys = {"owner": app.create_key("user7"), "admin": app.create_key("ops", admin=True)}
        figures = measure(app, keys, args.queries)
    return {"fill_seconds": round(seconds), **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--messages-per-session", type=int, default=10)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--database", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "sessions": args.sessions,
        "messages": args.sessions * args.messages_per_session,
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if "sqlite" in args.database:
            (workdir / "sqlite").mkdir()
            url = str(workdir / "sqlite" / "search.db")
            figures["sqlite"] = run("sqlite", url, workdir / "sqlite", args)
        if "postgresql" in args.database:
            with running_server(workdir / "pg", free_port()) as pg:
                (workdir / "postgresql").mkdir()
                url = pg.create_database("search")
                figures["postgresql"] = run("postgresql", url, workdir / "postgresql", args)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
