"""The turns this process is generating: started here, found here, stopped from anywhere.

Each turn runs in its own task, so it outlives the request that started it. A stop
is recorded in the database (TurnStops) and acted on at once when this process owns
the turn; otherwise, on PostgreSQL, it is sent to the owner over the bus
(services/turns/remote.py), and the owning worker's watcher, which polls the stop
table while it has live turns (every STOP_POLL_SECONDS on SQLite, every
STOP_FALLBACK_SECONDS where the bus carries stops), finds it in any case. The
watcher also keeps its turns' heartbeat, and interrupts the turns of a worker that
died. A whole-reply request is served by the same streamed generation, so it can be
stopped the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from datetime import timedelta
from typing import Any

from models.auth import Caller
from models.chat import ChatResponse, StopResult
from models.message import MessageStatus
from models.types import utcnow
from services.errors import ServiceError
from services.turns.admission import started
from services.turns.ends import RETRY_SECONDS as ENDS_RETRY_SECONDS
from services.turns.events import TurnEvent
from services.turns.live import LiveTurn
from services.turns.orphans import interrupt_orphaned_turns
from services.turns.prepare import PreparedTurn
from services.turns.remote import FOLLOW, STOP, RemoteTurns, follow_request, next_events
from services.turns.stops import ReplyState, TurnStops
from services.turns.turn import TurnService, chat_response

log = logging.getLogger(__name__)

STOP_POLL_SECONDS = 0.1
STOP_FALLBACK_SECONDS = 1.0
STOP_WAIT_SECONDS = 5.0
HEARTBEATS_PER_ORPHAN_PERIOD = 6


class TurnRunner:
    def __init__(self, turns: TurnService, stops: TurnStops, remote: RemoteTurns) -> None:
        self.turns = turns
        self.stops = stops
        self.remote = remote
        self.live: dict[str, LiveTurn] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._senders: set[asyncio.Task[None]] = set()
        remote.bus.subscribe(STOP, self._stop_asked)
        remote.bus.subscribe(FOLLOW, self._follow_asked)
        remote.bus.on_reconnect(lambda: self._send(self._apply_stops_missed()))

    def _stop_asked(self, message_id: str) -> None:
        """Another instance recorded a stop of a turn of ours: stop it, and tell the
        end to whoever waits for it there."""
        if (live := self.live.get(message_id)) is not None and live.stop():
            self._send(self.remote.send_events(live, after=len(live.events)))

    def _follow_asked(self, payload: str) -> None:
        message_id, after = follow_request(payload)
        if (live := self.live.get(message_id)) is not None:
            self._send(self.remote.send_events(live, after))

    def _send(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._senders.add(task)
        task.add_done_callback(self._senders.discard)

    def start(self, turn: PreparedTurn) -> LiveTurn:
        """Generate a prepared turn in its own task; followers attach to the result."""
        started()  # the next waiting start may begin (services/turns/admission.py)
        live = LiveTurn(turn.start)
        self.live[live.message_id] = live
        task = asyncio.create_task(self._generate(turn, live), name=f"turn {live.message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return live

    async def _generate(self, turn: PreparedTurn, live: LiveTurn) -> None:
        try:
            await self.turns.generate(turn, live)
        finally:
            self.live.pop(live.message_id, None)

    async def complete(self, turn: PreparedTurn) -> ChatResponse:
        """A whole reply: the streamed generation, awaited; a stop ends it `cancelled`."""
        live = self.start(turn)
        await live.wait_finished()
        if live.failure is not None:
            raise live.failure
        assert live.result is not None
        return chat_response(live.start, live.result)

    async def follow(
        self, live: LiveTurn, after: int = 0, on_disconnect: str = "continue"
    ) -> AsyncIterator[TurnEvent]:
        """The events of a live turn for one client; a client leaving early stops the
        turn only when the request asked for `on_disconnect: cancel`."""
        try:
            async for event in live.follow(after):
                yield event
        finally:
            if on_disconnect == "cancel" and not live.finished:
                log.info("client left turn %s; stopping it as asked", live.message_id)
                live.stop()

    async def stop_session(self, session_id: str, caller: Caller) -> StopResult:
        message_id = await self.stops.active_turn(session_id, caller)
        if message_id is None:
            return StopResult(
                stopped=False, status="idle", detail="no reply is being generated; nothing to stop"
            )
        return await self.stop_message(message_id, caller)

    async def stop_message(self, message_id: str, caller: Caller) -> StopResult:
        """Stop a reply being generated, in whichever worker; wait for its final state."""
        state = await self.stops.request(message_id, caller)
        if state.status != MessageStatus.STREAMING:
            return _stop_result(state, "the reply had already ended; nothing to stop")
        live = self.live.get(message_id)
        if live is not None:
            live.stop()
            await live.wait_finished()
            state = await self.stops.state(message_id)
        elif self.remote.available:
            state = await self._wait_for_the_owner(message_id)
        else:
            state = await self._wait_while_streaming(message_id)
        if state.status == MessageStatus.STREAMING:
            return _stop_result(state, "stop recorded; the reply has not ended yet")
        if state.status == MessageStatus.CANCELLED:
            return _stop_result(state, "stopped", stopped=True)
        return _stop_result(state, "the reply ended before the stop")

    async def _wait_for_the_owner(self, message_id: str) -> ReplyState:
        """Ask the owning instance to stop now and wait for the end it sends; the
        stored state is read every STOP_FALLBACK_SECONDS meanwhile, in case it died."""
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        with self.remote.watch(message_id) as queue:
            await self.remote.ask_to_stop(message_id)
            async for batch in next_events(queue, STOP_FALLBACK_SECONDS):
                if any(event.is_terminal for event in batch) or time.monotonic() > deadline:
                    break
                if not batch and (await self.stops.state(message_id)).status != (
                    MessageStatus.STREAMING
                ):
                    break
        return await self.stops.state(message_id)

    async def _wait_while_streaming(self, message_id: str) -> ReplyState:
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        state = await self.stops.state(message_id)
        while state.status == MessageStatus.STREAMING and time.monotonic() < deadline:
            await asyncio.sleep(STOP_POLL_SECONDS / 2)
            state = await self.stops.state(message_id)
        return state

    async def watch_forever(self, orphan_after_seconds: float) -> None:
        """The background duties of a worker towards the others, through the database:
        act on stops recorded elsewhere for the turns it owns (every STOP_POLL_SECONDS
        while it owns some); say its turns are alive and sweep the turns of workers that
        stopped saying so (every sixth of ORPHAN_AFTER_SECONDS); store the turn ends the
        database refused, once it takes them (services/turns/ends.py)."""
        beat_every = orphan_after_seconds / HEARTBEATS_PER_ORPHAN_PERIOD
        poll_stops_every = STOP_FALLBACK_SECONDS if self.remote.available else 0.0
        next_beat = next_retry = next_stops = time.monotonic()
        while True:
            await asyncio.sleep(STOP_POLL_SECONDS)
            try:
                if self.live and time.monotonic() >= next_stops:
                    next_stops = time.monotonic() + poll_stops_every
                    await self._apply_stops()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + beat_every
                    await self._beat_and_sweep(orphan_after_seconds)
                if self.turns.ends.pending and time.monotonic() >= next_retry:
                    next_retry = time.monotonic() + ENDS_RETRY_SECONDS
                    await self.turns.ends.retry()
            except ServiceError as exc:
                log.warning("turn housekeeping skipped: %s", exc)

    async def _apply_stops(self) -> None:
        for message_id in await self.stops.requested():
            if (live := self.live.get(message_id)) is not None:
                live.stop()

    async def _apply_stops_missed(self) -> None:
        """After the bus reconnected: the stops sent while it was away."""
        try:
            await self._apply_stops()
        except ServiceError as exc:
            log.warning("stops not read after the bus came back: %s", exc)

    async def _beat_and_sweep(self, orphan_after_seconds: float) -> None:
        store = self.turns.store
        if alive := [*self.live, *self.turns.ends.pending]:  # kept ends are not orphans
            await store.beat(alive)
        silent_since = utcnow() - timedelta(seconds=orphan_after_seconds)
        if swept := await interrupt_orphaned_turns(store.database, silent_since):
            log.warning("%d turn(s) of a worker that stopped responding are now interrupted", swept)

    async def wait_idle(self) -> None:
        """Until no turn is generating here, including turns started meanwhile."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def shutdown(self) -> None:
        """Cancel every generation; each stores its text as `interrupted`."""
        tasks = [*self._tasks, *self._senders]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.turns.ends.retry()  # a last chance for ends the database refused


def _stop_result(state: ReplyState, detail: str, stopped: bool = False) -> StopResult:
    return StopResult(
        stopped=stopped,
        message_id=state.message_id,
        status=state.status,
        chars=state.chars,
        detail=detail,
    )
