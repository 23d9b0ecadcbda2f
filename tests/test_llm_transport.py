"""The LLM client's transport (services/llm/transport.py): httpx's API and exceptions
over aiohttp, against real sockets on 127.0.0.1 that fail in each way a server can."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from services.llm.transport import LLMTransport
from tests.conftest import RefusedPort

pytestmark = pytest.mark.anyio
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEADERS = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 1000\r\n\r\n"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the service's loop


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    listening = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listening.close()
        await listening.wait_closed()


async def request_head(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def closes_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await request_head(reader)
    writer.close()


async def closes_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await request_head(reader)
    writer.write(HEADERS + b"data: half")
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.read(1024):  # until the client gives up and closes
        pass
    writer.close()


async def answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await request_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
    await writer.drain()
    writer.close()


def client(read_timeout: float = 2.0) -> httpx.AsyncClient:
    timeout = httpx.Timeout(2.0, read=read_timeout)
    return httpx.AsyncClient(timeout=timeout, transport=LLMTransport())


async def test_an_answer_arrives_through_the_httpx_api() -> None:
    async with server(answers) as url, client() as http:
        response = await http.post(url, json={"a": 1})
    assert (response.status_code, response.text) == (200, "hello")


async def test_a_refused_connection_is_a_connect_error() -> None:
    refused = RefusedPort()
    try:
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.post(refused.url, json={})
    finally:
        refused.release()


async def test_a_server_closing_before_answering_is_a_remote_protocol_error() -> None:
    async with server(closes_at_once) as url, client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(url, json={})


async def test_a_body_cut_short_is_a_read_error() -> None:
    async with (
        server(closes_mid_body) as url,
        client() as http,
        http.stream("POST", url, json={}) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.ReadError):
            async for _ in response.aiter_bytes():
                pass


async def test_silence_past_the_read_timeout_is_a_read_timeout() -> None:
    async with server(never_answers) as url, client(read_timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(url, json={})
