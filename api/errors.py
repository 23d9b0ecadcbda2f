"""The one place errors become HTTP responses.

Every error body is an ErrorBody: `detail` for people, a stable `code` for programs,
and the `request_id` that also appears in the X-Request-ID header and in our logs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.routing import Match
from starlette.websockets import WebSocket

from api.security_headers import SECURITY_HEADERS
from models.errors import ErrorBody
from models.openai import OpenAIErrorBody, OpenAIErrorDetail
from services.errors import ServiceError, TurnInProgress

log = logging.getLogger(__name__)

METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
OPENAI_PREFIX = "/v1"
# OpenAI's error types by status; other 4xx are invalid_request_error, 5xx server_error.
OPENAI_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


# The setting whose limit a request's body is held to (api/body_limit.py puts it here).
LIMIT_SETTING_SCOPE_KEY = "chat.body_limit_setting"


def too_large_detail(limit: int, setting: str = "MAX_BODY_BYTES") -> str:
    return f"request body over {setting} ({limit} bytes); nothing was stored"


def error_response(
    status_code: int, detail: str, code: str, path: str = "", **extra: Any
) -> JSONResponse:
    """The error body of the route at `path`: OpenAI's shape on the /v1 door, ours
    everywhere else."""
    if speaks_openai(path):
        return JSONResponse(openai_error(status_code, detail, code, extra), status_code)
    body = ErrorBody(detail=detail, code=code, request_id=correlation_id.get(), **extra)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status_code)


def speaks_openai(path: str) -> bool:
    return path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")


def openai_error(status_code: int, detail: str, code: str, extra: dict[str, Any]) -> dict[str, Any]:
    """`{"error": {message, type, param, code}}`; `param` names the first bad field."""
    errors = extra.get("errors") or [{}]
    param = errors[0].get("field")
    kind = OPENAI_ERROR_TYPES.get(status_code, "server_error" if status_code >= 500 else None)
    error = OpenAIErrorDetail(
        message=detail, type=kind or "invalid_request_error", param=param, code=code
    )
    return OpenAIErrorBody(error=error).model_dump()


def error_extras(exc: ServiceError) -> dict[str, Any]:
    """Fields some errors add to their body (HTTP) or event (WebSocket)."""
    return {"message_id": exc.message_id} if isinstance(exc, TurnInProgress) else {}


def summarize_validation(raw_errors: Sequence[Any]) -> tuple[str, list[dict[str, Any]]]:
    """One line naming every bad field, and the errors without their input."""
    errors = [_describe(error) for error in raw_errors]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return summary or "invalid request", errors


def service_error_response(exc: ServiceError, path: str = "") -> JSONResponse:
    extras = error_extras(exc)
    response = error_response(exc.status_code, exc.message, exc.code, path, **extras)
    response.headers.update(exc.headers())
    return response


async def deny_websocket(socket: WebSocket, exc: ServiceError, close_code: int) -> None:
    """Refuse a WebSocket handshake with the error's HTTP response where the server
    can send one (uvicorn can), else by closing with `close_code` and its message."""
    if "websocket.http.response" in socket.scope.get("extensions", {}):
        await socket.send_denial_response(service_error_response(exc))
    else:
        await socket.close(close_code, exc.message[:120])


def _count(request: Request, status: int, code: str) -> None:
    """The error response in the metrics (chat_http_errors_total)."""
    services = getattr(request.state, "services", None)
    if services is not None:
        services.metrics.http_errors.labels(str(status), code).inc()


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    _count(request, exc.status_code, exc.code)
    return service_error_response(exc, request.url.path)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    summary, errors = summarize_validation(exc.errors())
    _count(request, 422, "validation_error")
    return error_response(422, summary, "validation_error", request.url.path, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    _count(request, exc.status_code, code)
    detail = str(exc.detail)
    if exc.status_code == 413 and (limit := request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)):
        detail = too_large_detail(
            limit, request.scope.get(LIMIT_SETTING_SCOPE_KEY, "MAX_BODY_BYTES")
        )
    response = error_response(exc.status_code, detail, code, request.url.path)
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes at this path (RFC 9110 asks a 405 to list them);
    Starlette's own Allow names only the first route that matched the path. A path
    that is a route of its own (/api/sessions/import) is that resource, not an id of
    the routes around it (/api/sessions/{session_id})."""
    documented = request.app.openapi().get("paths", {}).get(request.url.path)
    if documented:
        return [method for method in METHODS if method.lower() in documented]
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.routes
        )
    ]


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    _count(request, 500, "internal_error")
    response = error_response(500, "Internal server error", "internal_error", request.url.path)
    # This handler runs outside every middleware (Starlette's ServerErrorMiddleware), so
    # it sets the request id and the security headers itself.
    response.headers.update(SECURITY_HEADERS)
    if request_id := correlation_id.get():
        response.headers["X-Request-ID"] = request_id
    return response


def _describe(error: Any) -> dict[str, Any]:
    """A validation error without the offending input (it may be huge or private)."""
    location = [str(part) for part in error.get("loc", ())]
    if location and location[0] in ("body", "query", "path", "header"):
        location = location[1:] or location
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return {"field": ".".join(location) or "body", "message": message, "type": error.get("type")}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
