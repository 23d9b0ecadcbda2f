"""The application: create_app(), its lifespan, and serve() (what `python main.py`
runs; main.py is the entry point, which loads this module only to serve).

The lifespan owns the long-lived resources: the database (services/storage.py:
one async engine, and on SQLite a writer thread) and one pooled httpx.AsyncClient,
built at startup, handed to routes through api/deps.py, and closed at shutdown.
Nothing does I/O at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from asgi_correlation_id import CorrelationIdFilter, CorrelationIdMiddleware
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import (
    audit,
    chat,
    health,
    messages,
    metrics,
    openai,
    openai_conversations,
    openai_responses,
    page,
    profiles,
    search,
    sessions,
    ws,
)
from api.admission_gate import AdmissionGate
from api.auth import document_auth
from api.body_limit import BodyLimits, CountedBodyLimit, DeclaredBodyLimit
from api.body_timeout import BodyTimeout
from api.drain_gate import DrainGate
from api.errors import install_error_handlers
from api.log_hygiene import install_log_hygiene
from api.page import PAGE_ASSETS_URL, PAGE_DIR
from api.security_headers import SecurityHeaders
from api.sessions import IMPORT_PATH
from api.url_guard import NoNulInUrl
from config import APP_VERSION, Settings, get_settings, is_loopback
from models.database import PoolSize, migrate, printable_url, unreachable_message
from services.collector import full_collections_every
from services.container import Services, build_services
from services.drain import stop_on_signals
from services.expiry import purge_expired_sessions_forever
from services.listen_address import address_in_use, in_use_message
from services.llm.factory import create_http_client
from services.llm.local_server import (
    LocalModelError,
    check_installed,
    llm_server_for,
    wants_local_model,
)
from services.storage import Database
from services.turns.orphans import interrupt_at_startup

log = logging.getLogger("chat_backend")
MAX_REQUEST_ID_CHARS = 128
AFTER_DRAIN_SECONDS = 5
DOCS_ASSETS_URL = "/docs/assets"

DESCRIPTION = """
Session-persistent chat backend: every session and message is stored (SQLite by
default); each turn sends a bounded window of the session's history to an
OpenAI-compatible (or `simple`) LLM server and returns the reply whole or as
Server-Sent Events. Errors share one body: `{detail, code, request_id}`.

A turn runs server-side and is stored as it goes: it can be stopped
(`POST /api/sessions/{id}/stop`), watched (`GET /api/sessions/{id}/status`) and
resumed after a dropped connection (`GET /api/messages/{id}/stream` with
`Last-Event-ID`) from any worker. Browsers can use `GET /api/chat/stream` with
EventSource. A WebSocket at `/ws/{session_id}` (not listed below: OpenAPI does not
describe WebSockets) takes `{"type": "chat" | "stop" | "status" | "ping", ...}` and
sends `{"type", "data", "timestamp"}` events; see the README.
"""


def _valid_request_id(value: str) -> bool:
    return 0 < len(value) <= MAX_REQUEST_ID_CHARS and value.isprintable()


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(CorrelationIdFilter(uuid_length=32, default_value="-"))
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(correlation_id)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level)
    # httpx logs every upstream request at INFO; one line per turn is noise, not signal.
    # Alembic's INFO lines say nothing a migration's own line (open_database) does not.
    for chatty in ("httpx", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    install_log_hygiene(settings.log_content)


def make_lifespan(settings: Settings) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # The local model first: its child process is forked before any worker thread exists.
        async with llm_server_for(settings) as serving:
            database = await open_database(serving)
            if serving.interrupt_orphans_at_startup:
                await log_interrupted(database, serving.orphan_after_seconds)
            http = create_http_client(serving)
            services = build_services(serving, database, http)
            background = [
                asyncio.create_task(
                    purge_expired_sessions_forever(
                        services.sessions, serving.session_purge_interval_seconds
                    )
                ),
                asyncio.create_task(services.runner.watch_forever(serving.orphan_after_seconds)),
                asyncio.create_task(services.indexer.run_forever()),
            ]
            await services.bus.start()
            undo_signal_hooks = stop_on_signals(services.drain, services.runner)
            log.info("serving; LLM %s (%s)", serving.llm_server_url, serving.llm_protocol)
            await log_auth_mode(services)
            try:
                with full_collections_every(serving.gc_full_collection_seconds):
                    yield {"services": services}
            finally:
                undo_signal_hooks()
                for task in background:
                    task.cancel()
                await services.runner.shutdown()
                await services.summarizer.jobs.shutdown()
                await services.titler.jobs.shutdown()
                await services.bus.close()
                await http.aclose()
                await database.close()

    return lifespan


OPEN_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! AUTH_MODE=none on HOST=%s: anyone who can reach this port can read, write and
!! delete every conversation. Create a key (python main.py keys create --name NAME
!! --admin) and unset AUTH_MODE (or set api_key), or bind to 127.0.0.1.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"""


async def log_auth_mode(services: Services) -> None:
    """Say loudly when the service is open to a network, and when no key can get in."""
    settings = services.settings
    if not settings.auth_required:
        if not is_loopback(settings.host):
            log.warning(OPEN_WARNING, settings.host)
        return
    live = [key for key in await services.keys.all() if key.revoked_at is None]
    log.info("AUTH_MODE=api_key: %d live key(s)", len(live))
    if not live:
        log.warning(
            "AUTH_MODE=api_key and no live key: every request gets 401; "
            "create one with: python main.py keys create --name NAME --admin"
        )


async def log_interrupted(database: Database, orphan_after_seconds: float) -> None:
    if count := await interrupt_at_startup(database, orphan_after_seconds):
        log.warning("%d turn(s) left streaming by a previous process are now interrupted", count)


async def open_database(settings: Settings) -> Database:
    pool = PoolSize(settings.db_pool_size, settings.db_max_overflow)
    database = Database.open(settings.database_url, settings.db_busy_timeout_ms, pool)
    try:
        if migration := await migrate(database.engine):
            log.info("%s", migration.describe())
    except Exception as exc:
        log.error("cannot open database %s: %s", printable_url(settings.database_url), exc)
        await database.close()
        raise
    return database


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    # Swagger UI and ReDoc from assets the fastapi-offline package ships, not a CDN:
    # the docs work on a machine without internet. No validator badge: it would load
    # an image from swagger.io.
    app = FastAPIOffline(
        title="Chat Backend",
        swagger_ui_parameters={"validatorUrl": None},
        static_url=DOCS_ASSETS_URL,
        version=APP_VERSION,
        description=DESCRIPTION,
        debug=False,
        lifespan=make_lifespan(settings),
    )
    app.add_middleware(BodyTimeout, seconds=settings.request_body_timeout_seconds)
    app.add_middleware(DrainGate)  # after SIGTERM: 503 to all new requests (services/drain.py)
    # Bodies over MAX_BODY_BYTES: Starlette's limit counts every byte (chunked too);
    # the declared-length check, outside it, answers in our error shape.
    # An import's file may be larger: MAX_IMPORT_BYTES on its path.
    limits = BodyLimits(
        settings.max_body_bytes, {IMPORT_PATH: (settings.max_import_bytes, "MAX_IMPORT_BYTES")}
    )
    app.add_middleware(CountedBodyLimit, limits=limits)
    app.add_middleware(DeclaredBodyLimit, limits=limits)
    # An explicit allow-list; `*` (alone) allows any origin, but then never with
    # credentials (cookies, HTTP auth): browsers forbid the pair, and it would let
    # any page act as the user.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials="*" not in settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed", "X-Session-Id"],
    )
    app.add_middleware(NoNulInUrl)  # before any route or the database sees the URL
    app.add_middleware(
        SecurityHeaders, static_prefixes=(DOCS_ASSETS_URL + "/", PAGE_ASSETS_URL + "/")
    )
    app.mount(PAGE_ASSETS_URL, StaticFiles(directory=PAGE_DIR), name="page-assets")
    app.add_middleware(
        CorrelationIdMiddleware, header_name="X-Request-ID", validator=_valid_request_id
    )
    app.add_middleware(AdmissionGate)  # outermost: a waiting turn start costs next to nothing
    install_error_handlers(app)
    routers = (sessions, search, profiles, chat, messages, health, audit, metrics, ws, page)
    for module in (*routers, openai, openai_responses, openai_conversations):
        app.include_router(module.router)
    document_auth(app, settings.auth_required)
    return app


app = create_app()


def exit_unless_local_model_installed(settings: Settings) -> None:
    """`python main.py` with the default LLM_SERVER_URL: say what is missing, in one line."""
    if not wants_local_model(settings):
        return
    try:
        check_installed(settings)
    except LocalModelError as exc:
        print(f"Cannot start the local model: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def exit_unless_database_reachable(settings: Settings) -> None:
    """A PostgreSQL server that cannot be reached: one line naming it, exit 2."""
    if unreachable := unreachable_message(settings.database_url):
        print(unreachable, file=sys.stderr)
        raise SystemExit(2)


def exit_if_address_in_use(settings: Settings) -> None:
    """Stop before the local model and the migrations when the port is taken."""
    if address_in_use(settings.host, settings.port):
        print(in_use_message(settings.host, settings.port), file=sys.stderr)
        raise SystemExit(2)


def serve() -> None:
    """`python main.py`: check the port, the database and the local model, then run
    uvicorn on this module's app (imported once: uvicorn finds it loaded)."""
    current = get_settings()
    exit_if_address_in_use(current)
    exit_unless_database_reachable(current)
    exit_unless_local_model_installed(current)
    uvicorn.run(
        "application:app",
        host=current.host,
        port=current.port,
        log_level=current.log_level.lower(),
        reload=current.debug,
        # After the drain (services/drain.py) the last responses get this long to end.
        timeout_graceful_shutdown=AFTER_DRAIN_SECONDS,
    )
