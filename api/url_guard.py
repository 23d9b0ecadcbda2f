"""A URL holding a NUL character (`%00`): 422 in our error shape, on both databases.

No id or parameter of this service can hold U+0000: PostgreSQL's text cannot store
it, and request bodies refuse it (models/text.py). A path or query string carrying
one is refused here, before any route looks it up, so that it is the same clear
answer on SQLite and PostgreSQL (where the database itself would refuse the
statement). The OpenAPI schema says so: every path and query string parameter has
the pattern NO_NUL (document_no_nul), so a client generated from it never sends one.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response

NO_NUL = "^[^\\u0000]*$"
DETAIL = "the URL holds a NUL character (%00), which no id or parameter can hold"


class NoNulInUrl:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _holds_nul(scope):
            if scope["type"] == "websocket":  # refused before the handshake: HTTP 403
                await send({"type": "websocket.close", "code": 1008, "reason": DETAIL})
                return
            refusal = error_response(422, DETAIL, "validation_error", scope.get("path", ""))
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _holds_nul(scope: Scope) -> bool:
    return "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")


def document_no_nul(schema: dict[str, Any]) -> None:
    """Every string parameter of a path or query string: the NO_NUL pattern."""
    for item in schema["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") not in ("path", "query"):
                    continue
                for variant in _string_schemas(parameter.get("schema", {})):
                    variant.setdefault("pattern", NO_NUL)


def _string_schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema itself if it is a string, or its string alternatives (anyOf)."""
    if schema.get("type") == "string":
        return [schema]
    return [s for s in schema.get("anyOf", []) if s.get("type") == "string"]
