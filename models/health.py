"""Health report shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class DatabaseHealth(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None


class LLMHealth(BaseModel):
    ok: bool
    url: str
    model: str | None
    latency_ms: float
    error: str | None = None


class HealthReport(BaseModel):
    """ok: all good; degraded: the database works but the LLM server does not."""

    status: Literal["ok", "degraded", "unavailable"]
    version: str
    database: DatabaseHealth
    llm: LLMHealth


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool
    database: bool
    llm: bool
