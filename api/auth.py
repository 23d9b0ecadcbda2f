"""Who is calling: the API key of `Authorization: Bearer <key>` (AUTH_MODE=api_key).

Every route but health takes a Caller from these dependencies; services scope what
they read and write to it. The stream routes a browser's EventSource uses, and the
WebSocket, also take the key as `access_token` in the query string, since browsers
cannot set headers there; logs never show query strings (api/log_hygiene.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from asgi_correlation_id import correlation_id
from fastapi import Depends, FastAPI, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from api.deps import get_services
from api.drain_gate import HEALTH_PREFIX
from api.responses import KEY_ONLY_STATUSES
from api.url_guard import document_no_nul
from models.auth import Caller, anonymous
from services.errors import AdminRequired, Unauthenticated

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `python main.py keys create --name NAME`; only checked "
    "with AUTH_MODE=api_key",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
AccessToken = Annotated[
    str | None,
    Query(
        description="The API key, for clients that cannot send an Authorization header "
        "(browser EventSource and WebSocket); the header wins when both are sent",
        examples=["cbk_0123456789ab_..."],
    ),
]


async def caller_for(
    connection: HTTPConnection, token: str | None, required: bool = True
) -> Caller | None:
    """The caller `token` acts for, counted against its rate limit.

    AUTH_MODE=none: the anonymous caller, whatever is sent. No token: Unauthenticated,
    or None when not `required` (health). A bad or revoked key: Unauthenticated.
    """
    services = get_services(connection)
    request_id = correlation_id.get()
    if not services.settings.auth_required:
        return anonymous(request_id)
    if not token:
        if required:
            raise Unauthenticated()
        return None
    caller = replace(await services.keys.authenticate(token), request_id=request_id)
    await services.request_rate.count(caller)
    return caller


async def require_caller(connection: HTTPConnection, token: str | None) -> Caller:
    """caller_for() where a key is required (with AUTH_MODE=api_key)."""
    caller = await caller_for(connection, token)
    assert caller is not None  # required: no key raised Unauthenticated
    return caller


def bearer_token(authorization: str | None) -> str | None:
    """The key in an `Authorization: Bearer <key>` header value."""
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


async def authenticate(request: Request, credentials: Credentials) -> Caller:
    return await require_caller(request, credentials.credentials if credentials else None)


async def authenticate_stream(
    request: Request, credentials: Credentials, access_token: AccessToken = None
) -> Caller:
    return await require_caller(request, credentials.credentials if credentials else access_token)


async def identify(request: Request, credentials: Credentials) -> Caller | None:
    """The caller when a key is sent (or AUTH_MODE=none); None for no key at all."""
    return await caller_for(request, credentials.credentials if credentials else None, False)


async def require_admin(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
    if not caller.admin:
        raise AdminRequired()
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
StreamCallerDep = Annotated[Caller, Depends(authenticate_stream)]
OptionalCallerDep = Annotated[Caller | None, Depends(identify)]
AdminDep = Annotated[Caller, Depends(require_admin)]


def document_auth(app: FastAPI, required: bool) -> None:
    """Make the OpenAPI schema say what this instance asks: with AUTH_MODE=none no
    route needs a key (no lock icons, no Authorize button) nor answers 401, 403 or
    429; with api_key the health routes take one optionally (an admin key shows the
    details)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        for path, item in schema["paths"].items():
            for operation in item.values():
                if not required:
                    for status in KEY_ONLY_STATUSES:
                        operation["responses"].pop(status, None)
                if "security" not in operation:
                    continue
                if not required:
                    del operation["security"]
                elif path.startswith(HEALTH_PREFIX):
                    operation["security"].append({})  # {}: no key is fine too
        if not required:
            schema.get("components", {}).pop("securitySchemes", None)
        document_no_nul(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
