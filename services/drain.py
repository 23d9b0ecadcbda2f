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

A second SIGTERM during the drain skips the rest of the grace. SIGINT (Ctrl-C) and
SIGQUIT are the drain with no grace: the service stops at once, storing the
replies being generated `interrupted` with their text (stop_on_signals).
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Sized
from types import FrameType
from typing import Any, Protocol

from services.errors import ShuttingDown

log = logging.getLogger(__name__)

SignalHandler = Callable[[int, FrameType | None], Any]
QUICK_SIGNALS = (signal.SIGINT, signal.SIGQUIT)


class TurnsInFlight(Protocol):
    """What a stop needs of the turns generating here (the TurnRunner). The turns
    hold the Drain, so this module names no turn class: the dependency runs one way."""

    @property
    def live(self) -> Sized: ...

    async def wait_idle(self) -> None: ...

    async def shutdown(self) -> None: ...


class Drain:
    """Whether this process is draining, and how long it may still take."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self._deadline: float | None = None
        self.hurry = asyncio.Event()  # SIGINT, or a second SIGTERM: stop waiting for turns

    @property
    def draining(self) -> bool:
        return self._deadline is not None

    def begin(self) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.grace_seconds

    def cut_short(self) -> None:
        """No grace (left): the turns in flight are interrupted now."""
        self._deadline = time.monotonic()
        self.hurry.set()

    def seconds_left(self) -> float:
        if self._deadline is None:
            return self.grace_seconds
        return max(self._deadline - time.monotonic(), 0.0)

    def refuse_new_work(self) -> None:
        """Raise ShuttingDown while draining; a restart takes about the grace left."""
        if self.draining:
            raise ShuttingDown(retry_after=max(math.ceil(self.seconds_left()), 1))


async def finish_turns(drain: Drain, runner: TurnsInFlight) -> None:
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


def stop_on_signals(drain: Drain, runner: TurnsInFlight) -> Callable[[], None]:
    """Put our stop in front of the server's signal handlers; returns the undo.

    SIGTERM drains (module docstring). SIGINT (Ctrl-C) and SIGQUIT stop now: new
    requests get 503, the turns in flight are stored `interrupted` with their text
    at once, and the server exits. gunicorn's master sends SIGQUIT to its workers on
    its own SIGINT or SIGQUIT; the worker class alone would only set a flag. A
    second SIGINT or SIGQUIT goes to the server itself (uvicorn: exit without waiting
    for open connections).

    Called from the lifespan, so it wraps the handlers uvicorn installed (alone or in
    a gunicorn worker). Without them (not the main thread, a bare ASGI host) it does
    nothing: there is no server exit to delay.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    handlers = {int(sig): signal.getsignal(sig) for sig in (*QUICK_SIGNALS, signal.SIGTERM)}
    if not callable(handlers[signal.SIGTERM]):
        return lambda: None
    stop = _Stop(drain, runner, handlers, asyncio.get_running_loop())
    stop.install()
    return stop.restore


class _Stop:
    """What the stop signals have asked for so far, and the one task carrying it out."""

    def __init__(
        self,
        drain: Drain,
        runner: TurnsInFlight,
        server_handlers: dict[int, SignalHandler | int | None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.drain, self.runner, self.loop = drain, runner, loop
        self.server_handlers = server_handlers
        self.quick = False
        self.task: asyncio.Task[None] | None = None

    def install(self) -> None:
        for sig in self.server_handlers:
            signal.signal(sig, self._on_os_signal)

    def restore(self) -> None:
        """The server's own handlers again."""
        for sig, handler in self.server_handlers.items():
            signal.signal(sig, handler)

    def _on_os_signal(self, sig: int, _: FrameType | None) -> None:
        # A signal handler may run between any two bytecodes, the loop's own
        # included: hand the work to the loop rather than touch it from here.
        self.loop.call_soon_threadsafe(self.on_signal, sig)

    def on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if sig in QUICK_SIGNALS:
            server_handler = self.server_handlers[sig]
            if self.quick and callable(server_handler):
                server_handler(sig, None)  # asked twice: the server's own hard exit
                return
            self.quick = True
            self.drain.cut_short()
            log.warning("%s: stopping now; replies being generated are stored interrupted", name)
        elif self.drain.draining:
            if not self.quick:  # a second SIGTERM cuts the grace short
                self.drain.cut_short()
            return
        else:
            self.drain.begin()
            log.warning(
                "%s: draining; new requests get 503, turns in flight have %.0f s to finish",
                name,
                self.drain.grace_seconds,
            )
        if self.task is None:
            self.task = self.loop.create_task(self._stop_then_exit(sig))

    async def _stop_then_exit(self, sig: int) -> None:
        await finish_turns(self.drain, self.runner)
        if not self.quick:
            log.info("drain done; shutting down")
        # Our part is done. With the server's own handlers back, a further Ctrl-C is
        # its hard exit. The event streams still open end by themselves: a resume
        # following another process's reply stops once this one drains
        # (services/turns/replay.py).
        self.restore()
        _ask_server_to_exit(self.server_handlers[signal.SIGTERM], sig)


def _ask_server_to_exit(server_exit: SignalHandler | int | None, sig: int) -> None:
    """Tell the server to exit, as its own SIGTERM handler would.

    uvicorn's handler is its Server's handle_exit. Setting `should_exit` does what
    it does without recording the signal, which uvicorn would raise again once it
    has exited: a gunicorn worker would then die by that signal, and its master log
    it as unexpected ("Worker was sent SIGINT!") although the worker ended cleanly.
    """
    server = getattr(server_exit, "__self__", None)
    if server is not None and hasattr(server, "should_exit"):
        server.should_exit = True
    elif callable(server_exit):
        server_exit(sig, None)
