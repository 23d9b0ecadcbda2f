"""Several LLM servers (a comma-separated LLM_SERVER_URL), with a small circuit breaker.

Servers are tried in the order configured. One that fails before sending any text
(refused, timed out, closed without answering, 429 or 5xx) is skipped for
LLM_COOLDOWN_SECONDS and the next one is tried at once, within the same attempt;
the turn's retries (services/llm/retry.py) then start again from the first server
not cooling down.
When every server is cooling down, the one whose cool-down ends first is tried
anyway: a turn is never refused without asking anybody. A failure that is about
the request (a 400, the context) is not the server's fault and trips nothing.

The pool yields a marker chunk naming each server it tries (StreamChunk.server),
so the turn can record which server answered. A single server is a pool of one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from services.llm.base import LLMClient, LLMRequest, ProbeResult, StreamChunk
from services.llm.errors import (
    LLMError,
    LLMNoResponse,
    LLMTimeout,
    LLMUnavailable,
    LLMUpstreamError,
)

SERVER_FAULT_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))


@dataclass
class Breaker:
    """One server's circuit: closed (in use) or open (skipped) until a moment."""

    cooldown_seconds: float
    failures: int = 0  # in a row
    open_until: float = 0.0  # time.monotonic()
    last_error: str | None = None

    def is_open(self, now: float) -> bool:
        return now < self.open_until

    def trip(self, error: LLMError) -> None:
        self.failures += 1
        self.open_until = time.monotonic() + self.cooldown_seconds
        self.last_error = error.message

    def reset(self) -> None:
        self.failures, self.open_until = 0, 0.0


@dataclass
class Server:
    client: LLMClient
    breaker: Breaker

    @property
    def url(self) -> str:
        return self.client.base_url


@dataclass
class ServerState:
    """A server as the health report shows it."""

    url: str
    probe: ProbeResult
    breaker_open: bool
    cooldown_remaining: float
    failures: int
    last_error: str | None


@dataclass
class LLMPool:
    servers: list[Server] = field(default_factory=list)

    @classmethod
    def of(cls, clients: Sequence[LLMClient], cooldown_seconds: float) -> LLMPool:
        return cls([Server(client, Breaker(cooldown_seconds)) for client in clients])

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamChunk, None]:
        """The reply from the first server that gives one (see module docstring)."""
        failure: LLMError | None = None
        for server in self._candidates():
            yield StreamChunk(server=server.url)
            sent_text = False
            try:
                async with aclosing(server.client.stream(request)) as chunks:
                    async for chunk in chunks:
                        sent_text = sent_text or bool(chunk.text)
                        yield chunk
            except LLMError as error:
                if sent_text or not _is_server_fault(error):
                    raise
                server.breaker.trip(error)
                failure = error
                continue
            server.breaker.reset()
            return
        assert failure is not None
        raise failure

    def _candidates(self) -> list[Server]:
        now = time.monotonic()
        closed = [s for s in self.servers if not s.breaker.is_open(now)]
        return closed or [min(self.servers, key=lambda s: s.breaker.open_until)]

    async def models(self) -> list[str]:
        """Every model some server lists, in server order, each once; the first
        server's error when none answered."""
        found = await asyncio.gather(
            *(s.client.models() for s in self.servers), return_exceptions=True
        )
        lists = [models for models in found if isinstance(models, list)]
        if not lists:
            error = found[0]
            assert isinstance(error, BaseException)
            raise error
        return list(dict.fromkeys(model for models in lists for model in models))

    def breaker_states(self) -> list[tuple[str, bool, int]]:
        """Each server's (URL, in use, failures in a row), without asking it anything."""
        now = time.monotonic()
        return [
            (_without_userinfo(s.url), not s.breaker.is_open(now), s.breaker.failures)
            for s in self.servers
        ]

    async def states(self) -> list[ServerState]:
        """Every server's probe and breaker, probed concurrently."""
        probes = await asyncio.gather(*(s.client.probe() for s in self.servers))
        now = time.monotonic()
        return [
            ServerState(
                url=server.url,
                probe=probe,
                breaker_open=server.breaker.is_open(now),
                cooldown_remaining=round(max(server.breaker.open_until - now, 0.0), 2),
                failures=server.breaker.failures,
                last_error=server.breaker.last_error,
            )
            for server, probe in zip(self.servers, probes, strict=True)
        ]


def _without_userinfo(url: str) -> str:
    """The URL without a user:password part, for labels and reports."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _is_server_fault(error: LLMError) -> bool:
    if isinstance(error, LLMUnavailable | LLMTimeout | LLMNoResponse):
        return True
    return isinstance(error, LLMUpstreamError) and error.upstream_status in SERVER_FAULT_STATUSES
