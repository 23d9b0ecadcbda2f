"""Service configuration: the only module that reads the environment.

Every setting comes from an environment variable of the same name (upper case) or
from a `.env` file in the working directory. A bad value stops startup with one line
per variable that names it and says what it accepts (see `load_settings`).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

APP_VERSION = "0.1.0"

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """All runtime settings; field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    llm_server_url: str = Field(
        "http://localhost:8000", description="Base URL of the LLM serving process"
    )
    llm_protocol: Literal["openai", "simple"] = Field(
        "openai", description="openai (/v1/chat/completions) or simple (/chat, /chat/stream)"
    )
    llm_model: str = Field("", description="Model name; empty = first id from /v1/models")
    llm_api_key: str = Field("", description="Sent as a Bearer token to the LLM server")
    llm_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect")
    llm_read_timeout: float = Field(120.0, gt=0, description="Seconds of upstream silence")
    llm_health_timeout: float = Field(2.0, gt=0, description="Seconds for the health probe")

    database_url: str = Field("chatbot.db", description="SQLite file path or SQLAlchemy URL")
    db_busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy_timeout")

    max_context_messages: int = Field(10, ge=1, le=1000)
    max_context_tokens: int = Field(0, ge=0, description="Estimated tokens; 0 = no cap")
    default_max_tokens: int = Field(256, ge=1, le=32768)
    default_temperature: float = Field(0.7, ge=0, le=2)
    default_system_prompt: str = ""
    max_message_chars: int = Field(32000, ge=1)

    session_timeout_hours: float = Field(24.0, ge=0, description="0 = sessions never expire")
    session_purge_interval_seconds: float = Field(600.0, gt=0)
    sse_keepalive_seconds: float = Field(15.0, gt=0)

    host: str = "0.0.0.0"
    port: int = Field(8080, ge=1, le=65535)
    debug: bool = False
    cors_origins: CommaList = Field(default_factory=list)
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("llm_server_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class ConfigurationError(Exception):
    """Raised when the environment holds a value the service cannot run with."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad variable: its name, the value given and what it accepts."""
    lines = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "SETTINGS"
        given = item.get("input")
        lines.append(f"Invalid configuration: {name}={given!r}: {item['msg']}")
    return "\n".join(lines)


def load_settings() -> Settings:
    """Read the settings, turning a validation failure into a one-line message."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings, read once; exits with a clear message when invalid."""
    try:
        return load_settings()
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
