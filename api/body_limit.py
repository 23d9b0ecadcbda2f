"""Request bodies over MAX_BODY_BYTES (MAX_IMPORT_BYTES for an import): 413.

A request whose Content-Length is over the limit gets 413 in our error shape.

Starlette's RequestBodyLimitMiddleware (application.py) counts the bytes of every body,
chunked ones too, and stops reading past the limit, before anything is parsed; its
413 then reaches our error handler. But for a body whose declared length is already
too large it answers plain text. This check runs outside it, on the header alone,
so every 413 names the limit in the same JSON body as every other error. Nothing
of the body is read.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitResponder
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import LIMIT_SETTING_SCOPE_KEY, error_response, too_large_detail


class BodyLimits:
    """MAX_BODY_BYTES, and the larger limits of some paths (an import's file), each
    with the setting that sets it: (bytes, setting)."""

    def __init__(self, default: int, larger: dict[str, tuple[int, str]]) -> None:
        self.default, self.larger = default, larger

    def of(self, path: str) -> tuple[int, str]:
        return self.larger.get(path, (self.default, "MAX_BODY_BYTES"))


class DeclaredBodyLimit:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit, setting = self.limits.of(scope.get("path", ""))
        if scope["type"] == "http" and self._declared_over(scope, limit):
            detail = too_large_detail(limit, setting)
            response = error_response(413, detail, "payload_too_large", scope["path"])
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _declared_over(scope: Scope, limit: int) -> bool:
        declared = Headers(scope=scope).get("content-length", "")
        return declared.isdigit() and int(declared) > limit


class CountedBodyLimit:
    """Starlette's RequestBodyLimitMiddleware (every byte counted, chunked bodies too),
    with each path's limit."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.limits.of(scope["path"])
        scope[LIMIT_SETTING_SCOPE_KEY] = setting
        await RequestBodyLimitResponder(self.app, limit)(scope, receive, send)
