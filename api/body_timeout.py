"""A request body that does not arrive within REQUEST_BODY_TIMEOUT_SECONDS: 408.

uvicorn bounds the time between requests on a connection, not the time a body takes:
a client sending a byte now and then (slow-loris) would hold its request, and its
worker's memory, for as long as it liked. Here the whole body must have arrived
within the limit of its first read; the request then ends with 408 `request_timeout`
before anything was parsed or stored, and the connection is closed. Once the body is
in, `receive` is passed through untouched: streams listen on it for the client
leaving, for as long as they last.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTimeout:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, self._timed(receive), send)

    def _timed(self, receive: Receive) -> Receive:
        deadline: float | None = None
        body_done = False

        async def timed_receive() -> Message:
            nonlocal deadline, body_done
            if body_done:
                return await receive()
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + self.seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"the request body did not arrive within {self.seconds:g} s "
                    "(REQUEST_BODY_TIMEOUT_SECONDS); nothing was stored",
                    headers={"Connection": "close"},  # the rest of the body is not awaited
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        return timed_receive
