"""Work a turn leaves for later (a summary, a title): one task per session at a time
in this process, never in a turn's way.

A job that arrives while its session's task runs waits, replacing any job already
waiting: only the newest turn matters. A job that fails is logged and dropped; a
later turn asks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
J = TypeVar("J")


class LatestPerSession(Generic[J]):
    def __init__(self, work: Callable[[J], Awaitable[None]], what: str) -> None:
        self.work, self.what = work, what
        self._running: dict[str, asyncio.Task[None]] = {}
        self._next: dict[str, J] = {}
        self.report: Callable[[bool], None] | None = None  # told each job's end: done?

    def submit(self, session_id: str, job: J) -> None:
        """Run `job` soon, in the background."""
        if session_id in self._running:
            self._next[session_id] = job
            return
        task = asyncio.create_task(self._run(session_id, job), name=f"{self.what} {session_id}")
        self._running[session_id] = task

    async def idle(self) -> None:
        """Until no job runs (tests and shutdown)."""
        while self._running:
            await asyncio.wait(list(self._running.values()))

    async def shutdown(self) -> None:
        """Drop the jobs running and waiting: a later turn asks again."""
        self._next.clear()
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _report(self, done: bool) -> None:
        if self.report is not None:
            self.report(done)

    async def _run(self, session_id: str, job: J) -> None:
        """This job, then the newest one queued for its session meanwhile, if any."""
        current: J | None = job
        try:
            while current is not None:
                try:
                    await self.work(current)
                except Exception as exc:  # background work never fails anything else
                    log.warning("%s of session %s not written: %s", self.what, session_id, exc)
                    self._report(False)
                else:
                    self._report(True)
                current = self._next.pop(session_id, None)
        finally:
            self._running.pop(session_id, None)
