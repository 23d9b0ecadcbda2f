"""A turn being generated in this process: its events so far, its followers, its stop.

Generation runs in its own task (services/turns/runner.py), not in the response
that started it, so a client can leave, come back, or be several clients at once:
each follower reads the same event list from its own position. Event ids are the
per-turn sequence numbers 1, 2, 3...: events[n] is the event after id n.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio

from models.message import MessagePublic
from services.turns.events import TurnEvent
from services.turns.store import TurnStart


class LiveTurn:
    def __init__(self, start: TurnStart) -> None:
        self.start = start
        self.events: list[TurnEvent] = []
        self.result: MessagePublic | None = None  # the stored reply, once `done`
        self.failure: Exception | None = None  # why it ended with `error`
        self.stop_requested = False
        self._changed = asyncio.Event()
        self._stop_scope: anyio.CancelScope | None = None

    @property
    def message_id(self) -> str:
        return self.start.assistant_message_id

    @property
    def finished(self) -> bool:
        return bool(self.events) and self.events[-1].is_terminal

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        self.events.append(TurnEvent(len(self.events) + 1, type_, data))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()  # wakes every follower waiting on the previous generation

    async def follow(self, after: int = 0) -> AsyncIterator[TurnEvent]:
        """Every event with an id above `after`, then live ones until the terminal one."""
        position = max(after, 0)
        while True:
            while position < len(self.events):
                event = self.events[position]
                position += 1
                yield event
                if event.is_terminal:
                    return
            if self.finished:
                return
            await self._changed.wait()

    async def batches(self, after: int = 0) -> AsyncIterator[list[TurnEvent]]:
        """follow(), but every event that is there at once in one list: a sender to
        another instance sends one message where a token or ten arrived meanwhile."""
        position = max(after, 0)
        while True:
            if position < len(self.events):
                batch = self.events[position:]
                position += len(batch)
                yield batch
                if batch[-1].is_terminal:
                    return
            elif self.finished:
                return
            else:
                await self._changed.wait()

    async def wait_finished(self) -> TurnEvent:
        async for event in self.follow(max(len(self.events) - 1, 0)):
            if event.is_terminal:
                return event
        return self.events[-1]

    def guard_upstream(self, scope: anyio.CancelScope) -> None:
        """The scope around the upstream stream: cancelling it closes the connection."""
        self._stop_scope = scope
        if self.stop_requested:
            scope.cancel()

    def stop(self) -> bool:
        """Ask the generation to end as `cancelled`; False if it already ended."""
        if self.finished:
            return False
        self.stop_requested = True
        if self._stop_scope is not None:
            self._stop_scope.cancel()
        return True
