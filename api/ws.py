"""WebSocket /ws/{session_id}: chat, stop and ping over one connection.

Client -> server, JSON: `{"type": "chat", "message": ..., <ChatRequest fields>}`
(parent_id and edit_of too), `{"type": "regenerate", "message_id": ..., <sampling
fields>}` (another version of a reply of this session), `{"type": "stop"}`,
`{"type": "status"}`, `{"type": "ping"}`.
Server -> client: `{"type": start|delta|done|error|pong|status, "data": {...},
"timestamp": ISO-8601}`, turn events also with their per-turn `id`. Turns run one at
a time per session (a second chat while one streams gets an `error` with code
`turn_in_progress`); each runs server-side, so a dropped connection behaves like a
dropped SSE client. Bad messages get an `error` event and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from api.auth import bearer_token, require_caller
from api.deps import get_services
from api.errors import deny_websocket, error_extras, summarize_validation
from models.auth import Caller
from models.chat import ChatRequest, Regeneration
from models.types import utcnow
from services.container import Services
from services.errors import ServiceError
from services.turns.events import TurnEvent

log = logging.getLogger(__name__)
router = APIRouter()
SESSION_GONE_CLOSE_CODE = 4404
POLICY_VIOLATION = 1008  # the close code when no HTTP 401 can be sent


class ChatSocket:
    """One client connection bound to one session."""

    def __init__(
        self, socket: WebSocket, services: Services, session_id: str, caller: Caller
    ) -> None:
        self.socket, self.services, self.session_id = socket, services, session_id
        self.caller = caller
        self.forwarding: asyncio.Task[None] | None = None

    async def send(self, type_: str, data: dict[str, Any], event_id: int | None = None) -> None:
        message: dict[str, Any] = {"type": type_, "data": data, "timestamp": utcnow().isoformat()}
        if event_id is not None:
            message["id"] = event_id
        await self.socket.send_text(json.dumps(message, ensure_ascii=False))

    async def send_error(self, code: str, message: str, **extra: Any) -> None:
        await self.send("error", {"code": code, "message": message, **extra})

    async def send_status(self) -> None:
        status = await self.services.turn_status.status(self.session_id, self.caller)
        await self.send("status", status.model_dump(mode="json"))

    async def handle(self, raw: str) -> None:
        try:
            request = json.loads(raw)
        except ValueError:
            await self.send_error("bad_message", "messages must be JSON objects")
            return
        kind = request.pop("type", None) if isinstance(request, dict) else None
        if kind in ("chat", "regenerate"):
            await self.turn(ChatRequest if kind == "chat" else Regeneration, request)
        elif kind == "stop":
            await self.services.runner.stop_session(self.session_id, self.caller)
            await self.forwarded()  # the turn's `done` goes out before the status
            await self.send_status()
        elif kind == "status":
            await self.send_status()
        elif kind == "ping":
            await self.send("pong", {})
        else:
            await self.send_error(
                "bad_message", "type must be chat, regenerate, stop, status or ping"
            )

    async def turn(self, shape: type[ChatRequest | Regeneration], fields: dict[str, Any]) -> None:
        """A chat or a regenerate on this connection's session, streamed back to it."""
        try:
            ask = shape.model_validate({**fields, "session_id": self.session_id})
        except ValidationError as exc:
            summary, _ = summarize_validation(exc.errors())
            await self.send_error("validation_error", summary)
            return
        await self.services.request_rate.count(self.caller)
        prepared = await self.services.turns.prepare(ask, self.caller)
        live = self.services.runner.start(prepared)
        events = self.services.runner.follow(live, on_disconnect=ask.on_disconnect)
        self.forwarding = asyncio.create_task(self.forward(events))

    async def forward(self, events: AsyncIterator[TurnEvent]) -> None:
        async for event in events:
            await self.send(event.type, event.data, event.id)

    async def forwarded(self) -> None:
        """Wait until this connection's turn has sent its last event."""
        if self.forwarding is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.forwarding)

    async def close(self) -> None:
        """The client left: stop forwarding (the turn itself carries on unless asked)."""
        if self.forwarding is not None:
            self.forwarding.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.forwarding


@router.websocket("/ws/{session_id}")
async def chat_socket(socket: WebSocket, session_id: str) -> None:
    """Authenticated like HTTP (header, or `access_token` for browsers): a bad key is
    refused with 401 before the handshake completes; another key's session looks
    exactly like a missing one (an `error` event, then close 4404)."""
    token = bearer_token(socket.headers.get("authorization"))
    try:
        caller = await require_caller(socket, token or socket.query_params.get("access_token"))
    except ServiceError as exc:
        await deny_websocket(socket, exc, POLICY_VIOLATION)
        return
    await socket.accept()
    connection = ChatSocket(socket, get_services(socket), session_id, caller)
    try:
        await connection.send_status()
    except ServiceError as exc:
        await connection.send_error(exc.code, exc.message)
        await socket.close(SESSION_GONE_CLOSE_CODE)
        return
    try:
        while (raw := await _next_text(socket)) is not None:
            try:
                await connection.handle(raw)
            except ServiceError as exc:
                await connection.send_error(exc.code, exc.message, **error_extras(exc))
            except Exception:
                log.exception("websocket message on session %s failed", session_id)
                await connection.send_error("internal_error", "Internal server error")
    except WebSocketDisconnect:
        pass
    finally:
        await connection.close()


async def _next_text(socket: WebSocket) -> str | None:
    """The next client message as text (binary frames decoded); None once it left."""
    message = await socket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    if message.get("text") is not None:
        return str(message["text"])
    return bytes(message.get("bytes") or b"").decode("utf-8", errors="replace")
