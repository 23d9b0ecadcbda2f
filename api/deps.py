"""Dependencies that hand the lifespan-built services to routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, Response
from starlette.requests import HTTPConnection

from config import Settings
from models.idempotency import MAX_KEY_CHARS
from services.audit import AuditLog
from services.branches import BranchService
from services.chat import ChatService
from services.container import Services
from services.fork import ForkService
from services.health import HealthService
from services.history import HistoryService
from services.imports.service import ImportService
from services.memory.summaries import SummaryService
from services.profiles.service import ProfileService
from services.search.messages import MessageSearch
from services.sessions import SessionService
from services.turns.replay import TurnReplay
from services.turns.runner import TurnRunner
from services.turns.status import TurnStatusReader
from services.turns.turn import TurnService


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


def _chat(request: Request) -> ChatService:
    return get_services(request).chat


def _settings(request: Request) -> Settings:
    return get_services(request).settings


def _turn_status(request: Request) -> TurnStatusReader:
    return get_services(request).turn_status


def _health(request: Request) -> HealthService:
    return get_services(request).health


def _audit(request: Request) -> AuditLog:
    return get_services(request).audit


def _branches(request: Request) -> BranchService:
    return get_services(request).branches


def _forks(request: Request) -> ForkService:
    return get_services(request).forks


def _summaries(request: Request) -> SummaryService:
    return get_services(request).summaries


def _imports(request: Request) -> ImportService:
    return get_services(request).imports


def _search(request: Request) -> MessageSearch:
    return get_services(request).search


def _profiles(request: Request) -> ProfileService:
    return get_services(request).profiles


SessionsDep = Annotated[SessionService, Depends(_sessions)]
ProfilesDep = Annotated[ProfileService, Depends(_profiles)]
SummariesDep = Annotated[SummaryService, Depends(_summaries)]
SearchDep = Annotated[MessageSearch, Depends(_search)]
ImportsDep = Annotated[ImportService, Depends(_imports)]
HistoryDep = Annotated[HistoryService, Depends(_history)]
TurnsDep = Annotated[TurnService, Depends(_turns)]
RunnerDep = Annotated[TurnRunner, Depends(_runner)]
ReplayDep = Annotated[TurnReplay, Depends(_replay)]
ChatDep = Annotated[ChatService, Depends(_chat)]
SettingsDep = Annotated[Settings, Depends(_settings)]
HealthDep = Annotated[HealthService, Depends(_health)]
TurnStatusDep = Annotated[TurnStatusReader, Depends(_turn_status)]
AuditDep = Annotated[AuditLog, Depends(_audit)]
BranchesDep = Annotated[BranchService, Depends(_branches)]
ForksDep = Annotated[ForkService, Depends(_forks)]


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


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_CHARS,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string (a UUID) of visible ASCII: sending the same request "
        "again with the same key within IDEMPOTENCY_TTL_HOURS returns the original result "
        "instead of doing it twice; the same key with a different body is 422 "
        "`idempotency_key_reused`",
        examples=["7b0e3c52-9a7d-4d5e-8f1a-2c3b4d5e6f70"],
    ),
]
REPLAYED_HEADER = "Idempotent-Replayed"


def mark_replayed(response: Response, replayed: bool) -> None:
    """Tell the client its request was a repeat, served from the original."""
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
