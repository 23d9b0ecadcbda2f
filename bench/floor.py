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

`--transport aiohttp` runs the httpx client over httpx-aiohttp's transport (what
the service uses); `httpx` over httpx's default one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from httpx_aiohttp import AiohttpTransport
from pydantic import BaseModel

SCHEMA = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, role TEXT NOT NULL,
    content TEXT NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_session ON messages (session_id, id);
"""


class Turn(BaseModel):
    session_id: str
    message: str


def create_floor(llm_url: str, database: str, transport: str) -> FastAPI:
    """The floor app: one aiosqlite connection and one httpx client, from its lifespan."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with aiosqlite.connect(database, isolation_level=None) as db:
            await db.executescript(SCHEMA)
            pool = AiohttpTransport() if transport == "aiohttp" else None
            async with httpx.AsyncClient(transport=pool, timeout=60) as http:
                state.update(db=db, http=http, lock=asyncio.Lock())
                yield

    app = FastAPI(lifespan=lifespan)

    async def begin(turn: Turn) -> tuple[int, list[dict[str, str]]]:
        async with state["lock"]:  # one connection: one transaction at a time
            return await begin_locked(turn)

    async def begin_locked(turn: Turn) -> tuple[int, list[dict[str, str]]]:
        db: aiosqlite.Connection = state["db"]
        await db.execute("BEGIN IMMEDIATE")
        await db.execute(
            "INSERT INTO messages (session_id, role, content, status) VALUES (?, 'user', ?, 'ok')",
            (turn.session_id, turn.message),
        )
        cursor = await db.execute(
            "INSERT INTO messages (session_id, role, content, status)"
            " VALUES (?, 'assistant', '', 'streaming')",
            (turn.session_id,),
        )
        placeholder = cursor.lastrowid
        rows = await db.execute_fetchall(
            "SELECT role, content FROM messages WHERE session_id = ? AND status = 'ok'"
            " ORDER BY id DESC LIMIT 10",
            (turn.session_id,),
        )
        await db.execute("COMMIT")
        assert placeholder is not None
        return placeholder, [{"role": r, "content": c} for r, c in reversed(list(rows))]

    async def finish(placeholder: int, content: str) -> None:
        db: aiosqlite.Connection = state["db"]
        async with state["lock"]:
            await db.execute(
                "UPDATE messages SET content = ?, status = 'ok' WHERE id = ?",
                (content, placeholder),
            )

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
