"""The floor: a minimal persisted chat turn on the service's own libraries.

    .venv/bin/python bench/floor.py --port 8001 --llm http://127.0.0.1:9000 \
                                    --database /tmp/floor.db [--transport aiohttp|httpx]

Not part of the service and lacking every feature it has. It is what the stack
itself (uvicorn, FastAPI with a pydantic body, aiosqlite, httpx) can do for one
turn, so that the benchmarks can read the service's figures as a ratio to it:

- `POST /api/chat` `{"session_id", "message"}`: one transaction stores the user
  message and the reply's placeholder and reads the last 10 messages; the upstream
  is asked (`stream: false`) through one pooled httpx client; one transaction
  stores the reply. Answers `{"content"}`.
- `POST /api/chat/stream`: the same turn with the upstream streamed; each delta is
  relayed as an SSE event as it is parsed, and the reply stored at the end.

`--database` is a SQLite file (one aiosqlite connection), or a `postgresql://` URL:
an asyncpg pool of 8 (the service's default pool size), the driver with no ORM.

`--transport aiohttp` runs the httpx client over httpx-aiohttp's transport (what
the service uses); `httpx` over httpx's default one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aiosqlite
import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from httpx_aiohttp import AiohttpTransport
from pydantic import BaseModel

SQLITE_SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL,
    content TEXT NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, id);
"""

POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id BIGSERIAL PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL,
    content TEXT NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, id);
"""

WINDOW = "SELECT role, content FROM messages WHERE session_id = {0} AND status = 'ok'"
WINDOW += " ORDER BY id DESC LIMIT 10"


class Turn(BaseModel):
    session_id: str
    message: str


class FloorStore(Protocol):
    async def begin(self, turn: Turn) -> tuple[int, list[dict[str, str]]]:
        """Store the user message and the reply's placeholder; read the window."""

    async def finish(self, placeholder: int, content: str) -> None:
        """Store the reply."""


class SqliteStore:
    """One aiosqlite connection: one transaction at a time, as SQLite allows."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        self.lock = asyncio.Lock()

    async def begin(self, turn: Turn) -> tuple[int, list[dict[str, str]]]:
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            await self.db.execute(
                "INSERT INTO messages (session_id, role, content, status)"
                " VALUES (?, 'user', ?, 'ok')",
                (turn.session_id, turn.message),
            )
            cursor = await self.db.execute(
                "INSERT INTO messages (session_id, role, content, status)"
                " VALUES (?, 'assistant', '', 'streaming')",
                (turn.session_id,),
            )
            rows = await self.db.execute_fetchall(WINDOW.format("?"), (turn.session_id,))
            await self.db.execute("COMMIT")
        assert cursor.lastrowid is not None
        return cursor.lastrowid, [{"role": r, "content": c} for r, c in reversed(list(rows))]

    async def finish(self, placeholder: int, content: str) -> None:
        async with self.lock:
            await self.db.execute(
                "UPDATE messages SET content = ?, status = 'ok' WHERE id = ?",
                (content, placeholder),
            )


class PostgresStore:
    """An asyncpg pool of 8 (the service's default pool size), no ORM in between."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def begin(self, turn: Turn) -> tuple[int, list[dict[str, str]]]:
        async with self.pool.acquire() as db, db.transaction():
            await db.execute(
                "INSERT INTO messages (session_id, role, content, status)"
                " VALUES ($1, 'user', $2, 'ok')",
                turn.session_id,
                turn.message,
            )
            placeholder = await db.fetchval(
                "INSERT INTO messages (session_id, role, content, status)"
                " VALUES ($1, 'assistant', '', 'streaming') RETURNING id",
                turn.session_id,
            )
            rows = await db.fetch(WINDOW.format("$1"), turn.session_id)
        return placeholder, [{"role": r["role"], "content": r["content"]} for r in reversed(rows)]

    async def finish(self, placeholder: int, content: str) -> None:
        await self.pool.execute(
            "UPDATE messages SET content = $1, status = 'ok' WHERE id = $2", content, placeholder
        )


@asynccontextmanager
async def open_store(database: str) -> AsyncIterator[FloorStore]:
    """A PostgreSQL URL opens an asyncpg pool; anything else is a SQLite file."""
    if database.startswith("postgresql://"):
        async with asyncpg.create_pool(database, min_size=8, max_size=8) as pool:
            await pool.execute(POSTGRES_SCHEMA)
            yield PostgresStore(pool)
        return
    async with aiosqlite.connect(database, isolation_level=None) as db:
        await db.executescript(SQLITE_SCHEMA)
        yield SqliteStore(db)


def create_floor(llm_url: str, database: str, transport: str) -> FastAPI:
    """The floor app: one store and one httpx client, from its lifespan."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with open_store(database) as store:
            pool = AiohttpTransport() if transport == "aiohttp" else None
            async with httpx.AsyncClient(transport=pool, timeout=60) as http:
                state.update(store=store, http=http)
                yield

    app = FastAPI(lifespan=lifespan)

    async def begin(turn: Turn) -> tuple[int, list[dict[str, str]]]:
        store: FloorStore = state["store"]
        return await store.begin(turn)

    async def finish(placeholder: int, content: str) -> None:
        store: FloorStore = state["store"]
        await store.finish(placeholder, content)

    def upstream_body(window: list[dict[str, str]], stream: bool) -> dict[str, Any]:
        return {"model": "floor", "messages": window, "max_tokens": 32, "stream": stream}

    @app.post("/api/chat")
    async def chat(turn: Turn) -> dict[str, str]:
        placeholder, window = await begin(turn)
        http: httpx.AsyncClient = state["http"]
        response = await http.post(
            f"{llm_url}/v1/chat/completions", json=upstream_body(window, False)
        )
        content = response.json()["choices"][0]["message"]["content"]
        await finish(placeholder, content)
        return {"content": content}

    @app.post("/api/chat/stream")
    async def chat_stream(turn: Turn) -> StreamingResponse:
        placeholder, window = await begin(turn)
        return StreamingResponse(relay(placeholder, window), media_type="text/event-stream")

    async def relay(placeholder: int, window: list[dict[str, str]]) -> AsyncIterator[bytes]:
        http: httpx.AsyncClient = state["http"]
        parts: list[str] = []
        body = upstream_body(window, True)
        async with http.stream("POST", f"{llm_url}/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                choices = json.loads(line[6:]).get("choices") or [{}]
                if text := (choices[0].get("delta") or {}).get("content"):
                    parts.append(text)
                    yield b"event: delta\ndata: " + json.dumps({"content": text}).encode() + b"\n\n"
        await finish(placeholder, "".join(parts))
        yield b"event: done\ndata: {}\n\n"

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--llm", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--transport", choices=("aiohttp", "httpx"), default="aiohttp")
    args = parser.parse_args()
    app = create_floor(args.llm, args.database, args.transport)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
