"""A request whose Content-Length is over MAX_BODY_BYTES: 413 in our error shape.

Starlette's RequestBodyLimitMiddleware (application.py) counts the bytes of every body,
chunked ones too, and stops reading past the limit, before anything is parsed; its
413 then reaches our error handler. But for a body whose declared length is already
too large it answers plain text. This check runs outside it, on the header alone,
so every 413 names the limit in the same JSON body as every other error. Nothing
of the body is read.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response, too_large_detail


class DeclaredBodyLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._declared_too_large(scope):
            response = error_response(
                413, too_large_detail(self.max_body_bytes), "payload_too_large", scope["path"]
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _declared_too_large(self, scope: Scope) -> bool:
        declared = Headers(scope=scope).get("content-length", "")
        return declared.isdigit() and int(declared) > self.max_body_bytes
