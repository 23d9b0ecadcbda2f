"""Health report shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


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

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "degraded",
                    "version": "0.1.0",
                    "database": {"ok": True, "latency_ms": 0.8},
                    "llm": {
                        "ok": False,
                        "url": "http://localhost:8000",
                        "model": None,
                        "latency_ms": 1.2,
                        "error": "LLM server not available",
                    },
                }
            ]
        }
    )

    status: Literal["ok", "degraded", "unavailable"]
    version: str
    database: DatabaseHealth
    llm: LLMHealth


class Liveness(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ready": True, "database": True, "llm": True}]}
    )

    ready: bool
    database: bool
    llm: bool
