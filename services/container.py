"""The services one app instance uses, built once in the lifespan from its resources."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from config import Settings
from services.health import HealthService
from services.history import HistoryService
from services.llm import LLMClient, create_llm_client
from services.sessions import SessionService
from services.turn import TurnService
from services.turn_replay import TurnReplay
from services.turn_runner import TurnRunner
from services.turn_status import TurnStatusReader
from services.turn_stops import TurnStops
from services.turn_store import TurnStore


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    llm: LLMClient
    sessions: SessionService
    history: HistoryService
    turns: TurnService
    runner: TurnRunner
    replay: TurnReplay
    turn_status: TurnStatusReader
    health: HealthService


def build_services(settings: Settings, engine: AsyncEngine, http: httpx.AsyncClient) -> Services:
    llm = create_llm_client(settings, http)
    sessions = SessionService(engine, settings.session_timeout_hours)
    turns = TurnService(TurnStore(engine, sessions), llm, settings)
    runner = TurnRunner(turns, TurnStops(engine, sessions))
    return Services(
        settings=settings,
        llm=llm,
        sessions=sessions,
        history=HistoryService(engine, sessions),
        turns=turns,
        runner=runner,
        replay=TurnReplay(engine, sessions, runner),
        turn_status=TurnStatusReader(engine, sessions),
        health=HealthService(engine, llm),
    )
