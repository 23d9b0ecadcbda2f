"""What the instances tell each other about turns, over the bus (services/bus.py).

- `chat_stop` (a message id): a stop recorded by another instance; the owner stops
  the turn at once (its stop-table poll is only the fallback).
- `chat_follow` ({m, after}): another instance has a client following this turn;
  the owner sends every event of it past `after`, live, until its terminal event.
- `chat_events` ({m, e: [[id, type, data], ...]}): those events. A follower (a
  resume, a repeated request, a stop waiting for the end) receives exactly the
  events the owner's own clients get, token by token, with the same ids.

A follower always subscribes before it asks, and owns a fallback (re-reading the
stored reply) for whatever the bus did not deliver.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from services.bus import MAX_PAYLOAD_BYTES, NoBus
from services.turns.events import TurnEvent
from services.turns.live import LiveTurn

log = logging.getLogger(__name__)

STOP = "chat_stop"
FOLLOW = "chat_follow"
EVENTS = "chat_events"
CHANNELS = (STOP, FOLLOW, EVENTS)


class RemoteTurns:
    """This process's side of the conversation between instances about turns."""

    def __init__(self, bus: NoBus) -> None:
        self.bus = bus
        self._watchers: dict[str, set[asyncio.Queue[list[TurnEvent]]]] = {}
        bus.subscribe(EVENTS, self._on_events)

    @property
    def available(self) -> bool:
        return self.bus.available

    @contextmanager
    def watch(self, message_id: str) -> Iterator[asyncio.Queue[list[TurnEvent]]]:
        """The events other instances send for this turn, while the block runs."""
        queue: asyncio.Queue[list[TurnEvent]] = asyncio.Queue()
        watchers = self._watchers.setdefault(message_id, set())
        watchers.add(queue)
        try:
            yield queue
        finally:
            watchers.discard(queue)
            if not watchers:
                self._watchers.pop(message_id, None)

    async def ask_to_stop(self, message_id: str) -> bool:
        return await self.bus.publish(STOP, message_id)

    async def ask_to_follow(self, message_id: str, after: int) -> bool:
        return await self.bus.publish(FOLLOW, json.dumps({"m": message_id, "after": after}))

    async def send_events(self, live: LiveTurn, after: int) -> None:
        """The owner's side: every event of `live` past `after`, until its end."""
        async for batch in live.batches(after):
            for payload in _payloads(live.message_id, batch):
                await self.bus.publish(EVENTS, payload)

    def _on_events(self, payload: str) -> None:
        message = json.loads(payload)
        watchers = self._watchers.get(message["m"])
        if not watchers:
            return
        events = [TurnEvent(event_id, type_, data) for event_id, type_, data in message["e"]]
        for queue in watchers:
            queue.put_nowait(events)


def follow_request(payload: str) -> tuple[str, int]:
    message: dict[str, Any] = json.loads(payload)
    return str(message["m"]), int(message["after"])


def _payloads(message_id: str, events: list[TurnEvent]) -> Iterator[str]:
    """The events as few notifications as fit NOTIFY's payload limit. An event too
    big for one alone is not sent: the follower's fallback reads it from storage."""
    batch: list[list[Any]] = []
    size = 0
    for event in events:
        item = [event.id, event.type, event.data]
        item_size = len(json.dumps(item, ensure_ascii=False).encode())
        if item_size > MAX_PAYLOAD_BYTES - 100:
            log.debug("event %d of %s too big for NOTIFY", event.id, message_id)
            continue
        if batch and size + item_size > MAX_PAYLOAD_BYTES - 100:
            yield _payload(message_id, batch)
            batch, size = [], 0
        batch.append(item)
        size += item_size + 1
    if batch:
        yield _payload(message_id, batch)


def _payload(message_id: str, batch: list[list[Any]]) -> str:
    return json.dumps({"m": message_id, "e": batch}, ensure_ascii=False)


async def next_events(
    queue: asyncio.Queue[list[TurnEvent]], silence_seconds: float
) -> AsyncIterator[list[TurnEvent]]:
    """The batches that arrive within `silence_seconds` of each other (an empty list on a
    silence, for the caller's fallback)."""
    while True:
        try:
            async with asyncio.timeout(silence_seconds):
                batch = await queue.get()
        except TimeoutError:
            batch = []
        yield batch
