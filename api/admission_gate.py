"""Requests that start a turn enter through services/turns/admission.py's slots.

It sits outside the other middlewares so that a waiting start costs nothing but its
parsed request line until it is admitted. Only the HTTP routes that start a turn are
gated; every other request, and WebSocket turns, pass straight through.
"""

from __future__ import annotations

from functools import partial

from starlette.types import ASGIApp, Receive, Scope, Send

TURN_PATHS = frozenset({"/api/chat", "/api/chat/stream", "/v1/chat/completions", "/v1/responses"})
TURN_SUFFIXES = ("/regenerate", "/regenerate/stream")


def starts_a_turn(scope: Scope) -> bool:
    path: str = scope["path"]
    return (
        scope["type"] == "http"
        and scope["method"] == "POST"
        and (
            path in TURN_PATHS
            or (path.startswith("/api/messages/") and path.endswith(TURN_SUFFIXES))
        )
    )


class AdmissionGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = scope.get("state", {}).get("services")
        if services is None or not starts_a_turn(scope):
            await self.app(scope, receive, send)
            return
        await services.admission.admit(partial(self.app, scope, receive, send))
