"""How many turns may be starting at once in this process.

A turn's start (its request parsed, routed and validated, its first transaction, its
window read) is a few milliseconds of the event loop, most of it without a pause. A
burst of a thousand new turns ran those back to back, and every stream already
flowing waited behind them: in bench/run.py's slow-stream scenario (1,000 streams
arriving at once) tokens came up to 600 ms late. Admitting a few starts at a time
lets the loop relay tokens between them: new turns wait for a slot, the streams
already running do not wait for the new turns.

A slot is held from the request's arrival until its turn is handed to its own task,
or until it turns out to follow a turn already running (an idempotent repeat, which
may wait as long as that reply): both call `started`. A request refused before that
(an error) gives its slot back when it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar


class _Slot:
    """One admitted start; released once, whichever comes first."""

    __slots__ = ("_held", "_slots")

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots, self._held = slots, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()


_current: ContextVar[_Slot | None] = ContextVar("turn_start_slot", default=None)


class TurnAdmission:
    """At most `slots` turns in their start phase; the others wait in arrival order."""

    def __init__(self, slots: int) -> None:
        self._slots = asyncio.Semaphore(slots)

    async def admit(self, start: Callable[[], Awaitable[None]]) -> None:
        """Run `start` (a request that starts a turn) once a slot is free; its slot is
        given back when the turn has `started`, at the latest when `start` returns."""
        await self._slots.acquire()
        slot = _Slot(self._slots)
        token = _current.set(slot)
        try:
            await start()
        finally:
            slot.release()
            _current.reset(token)


def started() -> None:
    """The current request's start is over (its turn runs in its own task, or it
    follows one that does): its slot goes to the next waiting start. A no-op outside
    an admitted request (a WebSocket turn, a test)."""
    slot = _current.get()
    if slot is not None:
        slot.release()
