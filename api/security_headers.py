"""Security headers on every response, errors and the docs pages included.

nosniff: a browser never runs a JSON reply as a script or page. no-referrer: a URL
(which may carry `access_token` or a message, GET /api/chat/stream) never leaves in
a Referer. Frame denial: the docs pages cannot be framed (clickjacking). no-store:
conversations are not kept by shared caches. A route's own header wins. Static
assets (the docs' scripts) are `no-cache` instead: a browser keeps them and
revalidates them by ETag, rather than loading megabytes on every visit.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


STATIC_CACHE_CONTROL = "no-cache"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, static_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.static_prefixes = static_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        static = bool(self.static_prefixes) and scope["path"].startswith(self.static_prefixes)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if static:
                    headers.setdefault("Cache-Control", STATIC_CACHE_CONTROL)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
