"""Health report shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HealthStatus = Literal["ok", "degraded", "unavailable", "shutting_down"]


class DatabaseHealth(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None


class LLMServerHealth(BaseModel):
    """One of the configured LLM servers: its probe, and its circuit breaker."""

    url: str
    ok: bool = Field(description="It answered the health probe")
    state: Literal["in_use", "cooling_down"] = Field(
        description="cooling_down: it failed a turn and is skipped for LLM_COOLDOWN_SECONDS"
    )
    cooldown_remaining_s: float
    failures_in_a_row: int
    last_failure: str | None = None
    model: str | None
    latency_ms: float
    error: str | None = None


class LLMHealth(BaseModel):
    """ok when any server answers; url/model/latency_ms/error are those of the server a
    turn would ask first; `servers` lists each one (LLM_SERVER_URL may name several)."""

    ok: bool
    url: str
    model: str | None
    latency_ms: float
    error: str | None = None
    servers: list[LLMServerHealth] = Field(default_factory=list)
    token_counter: str | None = Field(
        None,
        description="What counts the context window (TOKEN_COUNTER): `server:<model>` (the"
        " server's own tokenizer) or `estimate`; null until the first turn has asked",
    )


class HealthReport(BaseModel):
    """ok: all good; degraded: the database works but the LLM server does not;
    unavailable: the database does not work; shutting_down: draining after SIGTERM.

    version, database and llm (URLs, models, errors) only for admin keys, and with
    AUTH_MODE=none; anyone else gets the status alone."""

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
                        "servers": [
                            {
                                "url": "http://localhost:8000",
                                "ok": False,
                                "state": "cooling_down",
                                "cooldown_remaining_s": 21.4,
                                "failures_in_a_row": 1,
                                "last_failure": "LLM server not available",
                                "model": None,
                                "latency_ms": 1.2,
                                "error": "LLM server not available",
                            }
                        ],
                        "token_counter": "server:SmolLM2-135M-Instruct",
                    },
                }
            ]
        }
    )

    status: HealthStatus
    version: str | None = Field(None, description="Admin keys only")
    database: DatabaseHealth | None = Field(None, description="Admin keys only")
    llm: LLMHealth | None = Field(None, description="Admin keys only")


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
