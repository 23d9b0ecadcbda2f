"""Retrying the LLM call while nothing has reached the client yet.

A failure the server may get over (refused connection, a connection closed before
any answer, 429, 500, 502, 503) is tried
again after a jittered, doubling backoff, or after the server's own Retry-After,
at most LLM_MAX_RETRIES times and never past LLM_RETRY_DEADLINE_SECONDS from the
first attempt. A 400 saying the prompt is over the model's context is tried once
more with the history cut to half. Once a token has been sent on, nothing is
retried: a second attempt would contradict text the client already shows.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

import anyio

from services.errors import ContextTooLong
from services.llm.base import LLMRequest, StreamChunk
from services.llm.errors import LLMError, LLMNoResponse, LLMUnavailable, LLMUpstreamError
from services.llm.pool import LLMPool

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503})


@dataclass
class RetryPolicy:
    """One turn's retry budget: a count, a deadline and the backoff between tries."""

    max_retries: int
    backoff_seconds: float
    deadline_seconds: float
    retries: int = field(default=0, init=False)
    _deadline: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.deadline_seconds

    def delay_before_retry(self, error: LLMError) -> float | None:
        """Seconds to wait before trying again, or None: give up with `error`."""
        if not _is_transient(error) or self.retries >= self.max_retries:
            return None
        delay = error.retry_after if error.retry_after is not None else self._jittered_backoff()
        if time.monotonic() + delay > self._deadline:
            return None
        self.retries += 1
        return delay

    def _jittered_backoff(self) -> float:
        """Half the doubled backoff fixed, half random: retries spread out in time."""
        ceiling: float = self.backoff_seconds * 2.0**self.retries
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def _is_transient(error: LLMError) -> bool:
    if isinstance(error, LLMUnavailable | LLMNoResponse):
        return True
    return isinstance(error, LLMUpstreamError) and error.upstream_status in RETRYABLE_STATUSES


async def stream_with_retries(
    llm: LLMPool,
    request: LLMRequest,
    policy: RetryPolicy,
    client_has_text: Callable[[], bool],
    shorter: Callable[[LLMRequest], LLMRequest | None],
) -> AsyncGenerator[StreamChunk, None]:
    """llm.stream(request), tried again on a transient failure or a context overflow
    for as long as `client_has_text()` is false (see module docstring). `shorter`
    gives the request with its history halved, None when there is none to cut."""
    shortened = False
    while True:
        try:
            async with aclosing(llm.stream(request)) as chunks:
                async for chunk in chunks:
                    yield chunk
            return
        except ContextTooLong:
            cut = None if shortened or client_has_text() else shorter(request)
            if cut is None:
                raise
            log.warning("LLM server found the prompt over its context; retrying with half")
            request, shortened = cut, True
        except LLMError as error:
            delay = None if client_has_text() else policy.delay_before_retry(error)
            if delay is None:
                raise
            log.warning("LLM call failed (%s); retry %d in %.2f s", error, policy.retries, delay)
            await anyio.sleep(delay)
