"""kill -9 campaigns (tests/test_crash.py small, bench/kill9.py full): clients stream
turns, the service is killed at a random moment, restarted, and the database checked.

What "acknowledged" means: a client that received a turn's `start` event knows its
message was stored (start follows the commit); one that received `done` knows the
reply is whole. After every restart:
- `PRAGMA integrity_check` is ok (on PostgreSQL, amcheck of the two tables' indexes);
- every acknowledged user message is stored, with its text;
- every reply the client saw `done` is `complete` with exactly the streamed text;
- no message is left `streaming` (the startup sweep marks them `interrupted`).
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import EventSource

from tests.conftest import App, FakeLLM

SLOW_STREAM = {"chunks": [f"t{n} " for n in range(30)], "chunk_delay": 0.02}


@dataclass
class Seen:
    """What clients were told: acknowledged messages, and replies they saw end."""

    users: dict[str, str] = field(default_factory=dict)  # user_message_id -> text
    done: dict[str, str] = field(default_factory=dict)  # assistant id -> streamed text
    turns_started: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class CrashReport:
    kills: int = 0
    turns_started: int = 0
    acknowledged: int = 0
    replies_done: int = 0
    lost_messages: list[str] = field(default_factory=list)
    wrong_replies: list[str] = field(default_factory=list)
    left_streaming: int = 0
    interrupted: int = 0
    integrity: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bad = self.lost_messages or self.wrong_replies or self.left_streaming
        return not bad and all(result == "ok" for result in self.integrity)

    def summary(self) -> dict[str, Any]:
        return {
            "kills": self.kills,
            "turns_started": self.turns_started,
            "acknowledged_user_messages": self.acknowledged,
            "replies_seen_done": self.replies_done,
            "lost_acknowledged_messages": len(self.lost_messages),
            "done_replies_not_stored_whole": len(self.wrong_replies),
            "left_streaming_after_restart": self.left_streaming,
            "interrupted_by_the_kills": self.interrupted,
            "integrity_checks_ok": sum(result == "ok" for result in self.integrity),
        }


def stream_turns(app: App, seen: Seen, stop: threading.Event, number: int) -> None:
    """One client: streamed turns on its own session until the service dies."""
    try:
        with httpx.Client(base_url=app.url, timeout=10) as http:
            session_id = http.post("/api/sessions", json={}).json()["session_id"]
            turn = 0
            while not stop.is_set():
                text = f"client {number} turn {turn}"
                _one_turn(http, {"session_id": session_id, "message": text}, text, seen)
                turn += 1
    except (httpx.HTTPError, KeyError, ValueError):
        return  # the service was killed under this client


def _one_turn(http: httpx.Client, body: dict[str, Any], text: str, seen: Seen) -> None:
    with seen.lock:
        seen.turns_started += 1
    parts: list[str] = []
    with http.stream("POST", "/api/chat/stream", json=body) as response:
        for sse in EventSource(response).iter_sse():
            event = json.loads(sse.data)
            if event["type"] == "start":
                with seen.lock:
                    seen.users[event["user_message_id"]] = text
            elif event["type"] == "delta":
                parts.append(event["content"])
            elif event["type"] == "done":
                with seen.lock:
                    seen.done[event["message_id"]] = "".join(parts)


def kill_rounds(
    app: App, fake_llm: FakeLLM, kills: int, clients: int, rng: random.Random
) -> CrashReport:
    """`kills` times: `clients` stream turns, the service is killed -9 after a random
    0.3-1.5 s, restarted and checked."""
    report, seen = CrashReport(), Seen()
    for _ in range(kills):
        fake_llm.reset()
        fake_llm.script(*[SLOW_STREAM] * 200)
        stop = threading.Event()
        threads = [
            threading.Thread(target=stream_turns, args=(app, seen, stop, n)) for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.3, 1.5))
        app.stop(signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        report.kills += 1
        app.start()  # the startup sweep runs before the first request is served
        if app.on_postgres:  # where it leaves the turns beaten within ORPHAN_AFTER_SECONDS
            time.sleep(float(app.env.get("ORPHAN_AFTER_SECONDS", "30")) + 1)
        check(app, seen, report)
    report.turns_started = seen.turns_started
    report.acknowledged, report.replies_done = len(seen.users), len(seen.done)
    return report


# PostgreSQL: amcheck verifies every B-tree index of the two tables against its
# rules (an error, not a row, when one is corrupt).
_PG_INDEX_CHECK = """
SELECT count(bt_index_check(c.oid)) FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
WHERE a.amname = 'btree' AND i.indrelid IN ('messages'::regclass, 'sessions'::regclass)
"""


def integrity(db: Any, on_postgres: bool) -> str:
    """'ok', or what the database says is wrong."""
    if not on_postgres:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    db.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    checked = db.execute(_PG_INDEX_CHECK).fetchone()[0]
    return "ok" if checked >= 5 else f"only {checked} indexes checked"


def check(app: App, seen: Seen, report: CrashReport) -> None:
    with app.db() as db:
        report.integrity.append(integrity(db, app.on_postgres))
        rows = db.execute("SELECT message_id, content, status FROM messages").fetchall()
    stored = {message_id: (content, status) for message_id, content, status in rows}
    statuses = [status for _, status in stored.values()]
    report.left_streaming += statuses.count("streaming")
    report.interrupted = statuses.count("interrupted")
    with seen.lock:
        users, done = dict(seen.users), dict(seen.done)
    report.lost_messages = [m for m, text in users.items() if stored.get(m, ("",))[0] != text]
    report.wrong_replies = [m for m, text in done.items() if stored.get(m) != (text, "complete")]
