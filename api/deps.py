"""Dependencies that hand the lifespan-built services to routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.requests import HTTPConnection

from config import Settings
from services.container import Services
from services.health import HealthService
from services.history import HistoryService
from services.sessions import SessionService
from services.turn import TurnService
from services.turn_replay import TurnReplay
from services.turn_runner import TurnRunner
from services.turn_status import TurnStatusReader


def get_services(connection: HTTPConnection) -> Services:
    """The lifespan's services, for HTTP requests and WebSockets alike."""
    services: Services = connection.state.services
    return services


def _sessions(request: Request) -> SessionService:
    return get_services(request).sessions


def _history(request: Request) -> HistoryService:
    return get_services(request).history


def _turns(request: Request) -> TurnService:
    return get_services(request).turns


def _runner(request: Request) -> TurnRunner:
    return get_services(request).runner


def _replay(request: Request) -> TurnReplay:
    return get_services(request).replay


def _settings(request: Request) -> Settings:
    return get_services(request).settings


def _turn_status(request: Request) -> TurnStatusReader:
    return get_services(request).turn_status


def _health(request: Request) -> HealthService:
    return get_services(request).health


SessionsDep = Annotated[SessionService, Depends(_sessions)]
HistoryDep = Annotated[HistoryService, Depends(_history)]
TurnsDep = Annotated[TurnService, Depends(_turns)]
RunnerDep = Annotated[TurnRunner, Depends(_runner)]
ReplayDep = Annotated[TurnReplay, Depends(_replay)]
SettingsDep = Annotated[Settings, Depends(_settings)]
HealthDep = Annotated[HealthService, Depends(_health)]
TurnStatusDep = Annotated[TurnStatusReader, Depends(_turn_status)]


async def require_json_body(request: Request) -> None:
    """A non-empty body must be declared as JSON; anything else is a 415, not a puzzle."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return
    if not await request.body():
        return
    raise HTTPException(
        status_code=415,
        detail=f"Content-Type must be application/json, got {content_type or 'none'}",
    )
