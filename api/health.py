"""Health routes: the full report, liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import OptionalCallerDep
from api.deps import HealthDep
from api.responses import AUTH_ERRORS
from models.health import HealthReport, Liveness, Readiness

router = APIRouter(prefix="/api/health", tags=["health"])
UNAVAILABLE: dict[int | str, Any] = {
    503: {
        "description": "The database is not usable, or the service is shutting down",
        "model": HealthReport,
    }
}
NOT_READY: dict[int | str, Any] = {
    200: {
        "description": "Both the database and the LLM server answer",
        "content": {
            "application/json": {"example": {"ready": True, "database": True, "llm": True}}
        },
    },
    503: {
        "description": "Database or LLM server not reachable, or the service is shutting down",
        "model": Readiness,
        "content": {
            "application/json": {"example": {"ready": False, "database": True, "llm": False}}
        },
    },
}


@router.get("", response_model=HealthReport, responses={**UNAVAILABLE, **AUTH_ERRORS})
async def health(service: HealthDep, caller: OptionalCallerDep) -> JSONResponse:
    """Database and LLM server state: 200 ok/degraded; 503 when the database fails or
    the service is draining after SIGTERM (`shutting_down`).

    Open without a key, but then only `status`: the details (URLs, model, version,
    errors) need an admin key, or AUTH_MODE=none.
    """
    report = await service.report()
    code = 503 if report.status in ("unavailable", "shutting_down") else 200
    if caller is None or not caller.admin:
        return JSONResponse({"status": report.status}, status_code=code)
    return JSONResponse(report.model_dump(mode="json"), status_code=code)


@router.get("/live", response_model=Liveness)
async def live() -> Liveness:
    """The process is up: 200 even while it drains after SIGTERM (restarting it then
    would only cut the replies it is finishing)."""
    return Liveness()


@router.get("/ready", response_model=Readiness, responses=NOT_READY)
async def ready(service: HealthDep) -> JSONResponse:
    """200 when both the database and the LLM server answer, else 503."""
    readiness = await service.readiness()
    return JSONResponse(readiness.model_dump(), status_code=200 if readiness.ready else 503)
