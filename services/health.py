"""Health of the service's two dependencies: the database and the LLM server."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from config import APP_VERSION
from models.health import (
    DatabaseHealth,
    HealthReport,
    HealthStatus,
    LLMHealth,
    LLMServerHealth,
    Readiness,
)
from models.session import sessions_table
from services.drain import Drain
from services.errors import DatabaseUnavailable
from services.llm import LLMPool
from services.llm.pool import ServerState
from services.memory.counting import TokenCounter
from services.storage import Database, execute

DATABASE_CHECK_TIMEOUT = 2.0


class HealthService:
    def __init__(
        self, database: Database, llm: LLMPool, drain: Drain, counter: TokenCounter | None = None
    ) -> None:
        self.database = database
        self.llm = llm
        self.counter = counter
        self.drain = drain

    async def report(self) -> HealthReport:
        """Both checks run concurrently; ok, degraded (LLM down), unavailable (DB down),
        or shutting_down while draining after SIGTERM (a load balancer should move on)."""
        status, database, llm = await self._check()
        return HealthReport(status=status, version=APP_VERSION, database=database, llm=llm)

    async def readiness(self) -> Readiness:
        status, database, llm = await self._check()
        ready = status == "ok"  # both answer, and not draining
        return Readiness(ready=ready, database=database.ok, llm=llm.ok)

    async def _check(self) -> tuple[HealthStatus, DatabaseHealth, LLMHealth]:
        database, llm = await asyncio.gather(self.check_database(), self.check_llm())
        status: HealthStatus = "unavailable" if not database.ok else "ok" if llm.ok else "degraded"
        if self.drain.draining:
            status = "shutting_down"
        return status, database, llm

    async def check_database(self) -> DatabaseHealth:
        """Take the write lock and read a table: the service is useless if it cannot write."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(DATABASE_CHECK_TIMEOUT):
                await self.database.write(execute, select(sessions_table.c.session_id).limit(1))
        except DatabaseUnavailable as exc:
            return DatabaseHealth(ok=False, latency_ms=_ms(started), error=exc.message)
        except TimeoutError:
            error = f"no answer within {DATABASE_CHECK_TIMEOUT} s"
            return DatabaseHealth(ok=False, latency_ms=_ms(started), error=error)
        return DatabaseHealth(ok=True, latency_ms=_ms(started))

    async def check_llm(self) -> LLMHealth:
        servers = [_server_health(state) for state in await self.llm.states()]
        usable = [s for s in servers if s.ok and s.state == "in_use"]
        first = (usable or servers)[0]
        return LLMHealth(
            ok=any(s.ok for s in servers),
            url=first.url,
            model=first.model,
            latency_ms=first.latency_ms,
            error=first.error,
            servers=servers,
            token_counter=self.counter.known.key if self.counter and self.counter.known else None,
        )


def _server_health(state: ServerState) -> LLMServerHealth:
    return LLMServerHealth(
        url=state.url,
        ok=state.probe.ok,
        state="cooling_down" if state.breaker_open else "in_use",
        cooldown_remaining_s=state.cooldown_remaining,
        failures_in_a_row=state.failures,
        last_failure=state.last_error,
        model=state.probe.model,
        latency_ms=state.probe.latency_ms,
        error=state.probe.error,
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
