"""Service configuration: the only module that reads the environment.

Every setting comes from an environment variable of the same name (upper case) or
from a `.env` file in the working directory. A bad value stops startup with one line
per variable that names it and says what it accepts (see `load_settings`).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config_rules import (
    ConfigurationError,
    async_storage_url,
    check_http_url,
    check_limit_storage,
    check_origins,
    check_rate_limit,
    describe_validation_error,
    is_loopback,
)

__all__ = ["ConfigurationError", "Settings", "async_storage_url", "get_settings", "is_loopback"]

APP_VERSION = "0.1.0"
LOCAL_LLM = "local"  # LLM_SERVER_URL value: start the bundled llama.cpp + SmolLM2 server

CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """All runtime settings; field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    llm_server_url: str = Field(
        LOCAL_LLM,
        description="Base URL of the LLM serving process, or several, comma-separated, in "
        "order of preference; `local` = start llama.cpp + SmolLM2",
    )
    llm_cooldown_seconds: float = Field(
        30.0,
        ge=0,
        description="A server that failed before sending any text is skipped this long "
        "while another is configured",
    )
    llm_protocol: Literal["openai", "simple"] = Field(
        "openai", description="openai (/v1/chat/completions) or simple (/chat, /chat/stream)"
    )
    llm_model: str = Field("", description="Model name; empty = first id from /v1/models")
    llm_api_key: str = Field("", description="Sent as a Bearer token to the LLM server")
    llm_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect")
    llm_read_timeout: float = Field(120.0, gt=0, description="Seconds of upstream silence")
    llm_health_timeout: float = Field(2.0, gt=0, description="Seconds for the health probe")
    llm_max_connections: int = Field(
        1000, ge=1, description="Open connections to the LLM server: one per generating turn"
    )
    llm_max_retries: int = Field(
        2, ge=0, description="Retries of a failed LLM call before its first token is sent"
    )
    llm_retry_backoff_seconds: float = Field(
        0.5, ge=0, description="First retry after about this long, doubling, jittered"
    )
    llm_retry_deadline_seconds: float = Field(
        30.0, gt=0, description="No retry starts later than this after the first attempt"
    )
    llm_context_tokens: int = Field(
        2048, ge=64, description="The server's context length: window + reply must fit"
    )

    local_model_path: str = Field("", description="GGUF file; empty = the bundled SmolLM2")
    local_model_port: int = Field(0, ge=0, le=65535, description="0 = any free port")
    local_model_threads: int = Field(0, ge=0, description="0 = one per CPU core")
    local_model_startup_timeout: float = Field(120.0, gt=0)

    database_url: str = Field("chatbot.db", description="SQLite file path or SQLAlchemy URL")
    db_busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy_timeout")
    db_pool_size: int = Field(
        4,
        ge=1,
        description="PostgreSQL: connections each process keeps open (plus 2 of its own "
        "for LISTEN/NOTIFY). Keep instances x workers x (DB_POOL_SIZE + DB_MAX_OVERFLOW + 2) "
        "under the server's max_connections (100 by default, 3 reserved)",
    )
    db_max_overflow: int = Field(
        4, ge=0, description="PostgreSQL: connections a process may open past the pool at peaks"
    )

    max_context_messages: int = Field(10, ge=1, le=1000)
    max_context_tokens: int = Field(0, ge=0, description="Counted tokens; 0 = no cap")
    token_counter: Literal["auto", "server", "estimate"] = Field(
        "auto",
        description="auto: the LLM server's tokenizer where it has one, else the estimate;"
        " server: always the server's (a turn fails without one); estimate: never ask",
    )
    memory_type: Literal["buffer", "summary"] = Field(
        "buffer",
        description="A session's memory unless its profile says: buffer = the newest"
        " messages that fit; summary = also a running summary of what no longer fits",
    )
    summary_trigger_tokens: int = Field(
        1000, ge=1, description="Summarize when this many left-out tokens are not yet summarized"
    )
    summary_max_tokens: int = Field(256, ge=16, le=4096, description="A summary's length cap")
    summary_llm_server_url: str = Field(
        "", description="Send summaries to this server instead (a cheaper model); empty = the LLM"
    )
    summary_model: str = Field("", description="The model for summaries; empty = LLM_MODEL's")
    auto_title: bool = Field(
        True,
        description="After the first exchange of a session without a title, the LLM"
        " (SUMMARY_LLM_SERVER_URL's when set) writes one, in the background",
    )
    default_max_tokens: int = Field(256, ge=1, le=32768)
    default_temperature: float = Field(0.7, ge=0, le=2)
    default_system_prompt: str = ""
    max_message_chars: int = Field(32000, ge=1)
    max_reply_chars: int = Field(
        100_000,
        ge=1,
        description="A reply is cut here (finish_reason `length`) and the LLM server told to stop",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Request bodies over this many bytes are refused with 413 before "
        "they are parsed",
    )

    max_import_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="POST /api/sessions/import takes files up to this many bytes (a"
        " ChatGPT export is often larger than MAX_BODY_BYTES)",
    )
    max_import_messages: int = Field(
        10_000, ge=1, description="An imported conversation with more messages is left out"
    )

    request_body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="A request body must have arrived this long after its first byte "
        "was awaited (slow clients: 408)",
    )

    interrupt_orphans_at_startup: bool = Field(
        True,
        description="Mark turns a dead process left `streaming` as `interrupted`; gunicorn "
        "workers get false because the master does it once, before forking",
    )

    checkpoint_seconds: float = Field(
        0.25, ge=0, description="Save a streaming reply's text at least this often; 0 = no timer"
    )
    checkpoint_chunks: int = Field(
        64,
        ge=0,
        description="...or every this many chunks; 0 = no count. Both 0: no checkpoints "
        "(for benchmarks: a crash then loses the whole partial reply)",
    )

    orphan_after_seconds: float = Field(
        30.0,
        gt=0,
        description="A streaming reply whose worker has been silent this long (it crashed) "
        "is marked interrupted by the other workers",
    )

    idempotency_ttl_hours: float = Field(
        24.0,
        gt=0,
        description="How long an Idempotency-Key is remembered: a repeat within it gets "
        "the original result",
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        ge=0,
        description="On SIGTERM, replies being generated get this long to finish (new "
        "requests get 503 meanwhile); those still running are then stored `interrupted`",
    )
    session_timeout_hours: float = Field(24.0, ge=0, description="0 = sessions never expire")
    session_purge_interval_seconds: float = Field(600.0, gt=0)
    sse_keepalive_seconds: float = Field(15.0, gt=0)
    gc_full_collection_seconds: float = Field(
        60.0,
        ge=0,
        description="Python's full garbage collection runs on this clock, not whenever "
        "objects grow by a quarter (a pause of up to ~0.2 s with 1,000 streams open); "
        "0 = Python's own schedule",
    )
    turn_start_slots: int = Field(
        8,
        ge=1,
        description="Turns one worker starts at once (request parsed, first transaction, "
        "window read); more wait in arrival order, so a burst of new turns does not stall "
        "the streams already running",
    )

    host: str = Field(
        "127.0.0.1",
        description="Address `python main.py` binds; a non-loopback one turns AUTH_MODE's "
        "default to api_key",
    )
    port: int = Field(8080, ge=1, le=65535)
    debug: bool = False
    auth_mode: Literal["none", "api_key"] | None = Field(
        None,
        description="api_key: every request needs `Authorization: Bearer <key>` "
        "(`python main.py keys create`); none: no keys. Unset: none on a loopback HOST, "
        "else api_key",
    )
    rate_limit: str = Field(
        "600/minute",
        description="Requests per API key (429 past it), in the `limits` notation: "
        "`600/minute`, or several, `600/minute;20/second`; empty = no limit",
    )
    api_key_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="How long a worker trusts what it read of an API key: a revocation "
        "(`keys revoke`) reaches every worker within this; 0 = read the key on every request",
    )
    rate_limit_concurrent_streams: int = Field(
        8,
        ge=0,
        description="Replies one API key may have generating at once, streamed or whole "
        "(429 past it); 0 = no limit",
    )
    rate_limit_storage_url: str = Field(
        "",
        description="Where request counts are kept: `database` (the service's database, "
        "exact across instances; the default on PostgreSQL), memory:// (per process; the "
        "default on SQLite), or a `limits` storage such as redis://host:port",
    )
    log_content: bool = Field(
        False,
        description="Log message text and query strings (they carry messages); keys are "
        "never logged",
    )
    cors_origins: CommaList = Field(
        default_factory=list,
        description="Origins browsers may call from, comma-separated; `*` alone = any "
        "origin, without credentials",
    )
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("auth_mode", mode="before")
    @classmethod
    def _empty_auth_mode_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return check_origins(value)

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        return check_rate_limit(value)

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _check_limit_storage(cls, value: str) -> str:
        return check_limit_storage(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("summary_llm_server_url")
    @classmethod
    def _check_summary_url(cls, value: str) -> str:
        url = value.strip().rstrip("/")
        return check_http_url(url, "") if url else url

    @field_validator("llm_server_url")
    @classmethod
    def _check_urls(cls, value: str) -> str:
        if value.strip().lower() in ("", LOCAL_LLM):
            return LOCAL_LLM
        urls = [url.strip().rstrip("/") for url in value.split(",") if url.strip()]
        hint = f"; give one or several, comma-separated, or {LOCAL_LLM!r}"
        for url in urls:
            check_http_url(url, hint)
        if len(set(urls)) < len(urls):
            raise ValueError("lists a server twice")
        return ",".join(urls)

    @property
    def auth_required(self) -> bool:
        """API keys are checked: AUTH_MODE=api_key, or unset on a non-loopback HOST."""
        if self.auth_mode is None:
            return not is_loopback(self.host)
        return self.auth_mode == "api_key"

    @property
    def llm_server_urls(self) -> list[str]:
        """The LLM servers, in order of preference."""
        return self.llm_server_url.split(",")

    @model_validator(mode="after")
    def _reply_fits_context(self) -> Settings:
        if self.default_max_tokens >= self.llm_context_tokens:
            raise ValueError(
                f"DEFAULT_MAX_TOKENS ({self.default_max_tokens}) must be below "
                f"LLM_CONTEXT_TOKENS ({self.llm_context_tokens}): the prompt needs room too"
            )
        return self


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
