"""While the process drains after SIGTERM, every new request gets 503 `shutting_down`.

It sits outside the routes, so reads are refused too: a client retries elsewhere
(Retry-After) and nothing starts that the shutdown would cut. The health routes
answer for themselves, in their own shapes: `shutting_down` with 503, and liveness
still 200. Requests already running are not touched; services/drain.py lets them
finish.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from api.errors import deny_websocket, service_error_response
from services.errors import ShuttingDown

WS_TRY_AGAIN_LATER = 1013
HEALTH_PREFIX = "/api/health"


class DrainGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = scope.get("state", {}).get("services")
        if (
            scope["type"] not in ("http", "websocket")
            or services is None
            or scope["path"].startswith(HEALTH_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        try:
            services.drain.refuse_new_work()
        except ShuttingDown as refusal:
            await _refuse(refusal, scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _refuse(refusal: ShuttingDown, scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await service_error_response(refusal, scope["path"])(scope, receive, send)
        return
    await deny_websocket(WebSocket(scope, receive, send), refusal, WS_TRY_AGAIN_LATER)
