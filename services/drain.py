"""SIGTERM drains the process: turns in flight may finish, new work gets 503.

A deploy, `docker stop` or gunicorn's master sends SIGTERM and then waits. Left to
itself the server would close its listener at once and our lifespan would cancel
every reply mid-sentence. Instead:

1. SIGTERM starts the drain. Every request that reaches this process from then on
   is refused with 503 `shutting_down` and a Retry-After (api/drain_gate.py; a
   WebSocket's next chat message likewise). The listener stays open meanwhile, so
   a client or load balancer gets that clear answer rather than a refused connection.
2. The turns in flight run on until they end or SHUTDOWN_GRACE_SECONDS pass; those
   still running then are cancelled and stored `interrupted` with their text.
3. The server's own SIGTERM handler runs: it closes the listener, lets the last
   responses finish and runs the lifespan shutdown.

A second SIGTERM during the drain skips the rest of the grace. SIGINT (Ctrl-C) is
left to the server: it stops at once, storing unfinished replies `interrupted`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from services.errors import ShuttingDown

if TYPE_CHECKING:  # the runner's turns hold a Drain: a runtime import would be a cycle
    from services.turn_runner import TurnRunner

log = logging.getLogger(__name__)

SignalHandler = Callable[[int, FrameType | None], Any]


class Drain:
    """Whether this process is draining, and how long it may still take."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self._deadline: float | None = None
        self.hurry = asyncio.Event()  # a second SIGTERM: stop waiting for turns

    @property
    def draining(self) -> bool:
        return self._deadline is not None

    def begin(self) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.grace_seconds

    def seconds_left(self) -> float:
        if self._deadline is None:
            return self.grace_seconds
        return max(self._deadline - time.monotonic(), 0.0)

    def refuse_new_work(self) -> None:
        """Raise ShuttingDown while draining; a restart takes about the grace left."""
        if self.draining:
            raise ShuttingDown(retry_after=max(math.ceil(self.seconds_left()), 1))


async def finish_turns(drain: Drain, runner: TurnRunner) -> None:
    """Let the turns in flight end within the grace; interrupt the rest."""
    idle = asyncio.create_task(runner.wait_idle())
    hurry = asyncio.create_task(drain.hurry.wait())
    await asyncio.wait(
        {idle, hurry}, timeout=drain.seconds_left(), return_when=asyncio.FIRST_COMPLETED
    )
    idle.cancel()
    hurry.cancel()
    if left := len(runner.live):
        log.warning("drain: %d turn(s) still generating are now interrupted", left)
    await runner.shutdown()


def drain_on_sigterm(drain: Drain, runner: TurnRunner) -> Callable[[], None]:
    """Put the drain in front of the server's SIGTERM handler; returns the undo.

    Called from the lifespan, so it wraps the handler uvicorn installed (alone or in
    a gunicorn worker). Without one (not the main thread, a bare ASGI host) it does
    nothing: there is no server exit to delay.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    server_handler = signal.getsignal(signal.SIGTERM)
    if not callable(server_handler):
        return lambda: None
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def drain_then_exit(sig: int) -> None:
        await finish_turns(drain, runner)
        log.info("drain done; shutting down")
        server_handler(sig, None)

    def start_drain(sig: int) -> None:
        if drain.draining:
            drain.hurry.set()
            return
        drain.begin()
        log.warning(
            "SIGTERM: draining; new requests get 503, turns in flight have %.0f s to finish",
            drain.grace_seconds,
        )
        task = loop.create_task(drain_then_exit(sig))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_sigterm(sig: int, _: FrameType | None) -> None:
        # A signal handler may run between any two bytecodes, the loop's own
        # included: hand the work to the loop rather than touch it from here.
        loop.call_soon_threadsafe(start_drain, sig)

    def undo() -> None:
        signal.signal(signal.SIGTERM, server_handler)

    signal.signal(signal.SIGTERM, on_sigterm)
    return undo
