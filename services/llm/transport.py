"""The LLM client's transport: the httpx API over aiohttp's connection pool.

httpx-aiohttp puts aiohttp (its HTTP parser and pool are C) under the httpx
client this service talks to its LLM servers with: a turn's upstream call costs
about half the CPU of httpx's default transport (h11 + httpcore in Python). See
docs/BENCHMARKS.md.

Everything above this module speaks httpx: this transport hands out httpx's own
exceptions for aiohttp's, mapped by what happened (httpx-aiohttp maps a server that
disconnects as a connect timeout, and lets some through unmapped):

    refused, DNS, TLS at connect    -> httpx.ConnectError
    connect (or pool) timeout       -> httpx.ConnectTimeout
    no bytes within the read timeout -> httpx.ReadTimeout
    server closed the connection    -> httpx.RemoteProtocolError
    body cut short, socket errors   -> httpx.ReadError
    anything else aiohttp raises    -> httpx.ProtocolError
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

MAPPED: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (TimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (OSError, httpx.ReadError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ClientError, httpx.ProtocolError),
)


def as_httpx_error(exc: BaseException) -> httpx.TransportError | None:
    """httpx's exception for an aiohttp (or socket) failure; None when not one.
    An httpx error httpx-aiohttp made from an aiohttp one is mapped again from
    its cause."""
    origin = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if origin is None:
        return None
    for raised, mapped in MAPPED:
        if isinstance(origin, raised):
            error = mapped(str(origin) or type(origin).__name__)
            error.__cause__ = origin
            return error
    return None


@contextmanager
def httpx_errors() -> Iterator[None]:
    try:
        yield
    except (httpx.TransportError, aiohttp.ClientError, OSError) as exc:  # timeouts are OSErrors
        mapped = as_httpx_error(exc)
        if mapped is None:
            raise
        raise mapped from mapped.__cause__


class MappedStream(httpx.AsyncByteStream):
    """A response body whose failures arrive as httpx's exceptions."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        with httpx_errors():
            await self._stream.aclose()


class LLMTransport(AiohttpTransport):
    """httpx-aiohttp's transport with httpx's exceptions, mapped by what happened."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with httpx_errors():
            response = await super().handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = MappedStream(response.stream)
        return response
