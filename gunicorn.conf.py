"""gunicorn reads this file from the working directory.

SIGTERM drains each worker (services/drain.py); `graceful_timeout` below gives
the drain its time before the master kills a worker. SIGINT (Ctrl-C) and SIGQUIT
make the master send SIGQUIT to its workers, which stop at once, storing the
replies being generated `interrupted`.

The master tells the workers (through the environment) the address it binds, so
that AUTH_MODE's default follows it: `--bind 0.0.0.0:8080` means api_key. It also
does, once and before forking, what a single process does in its lifespan: it
marks turns left `streaming` by a previous run as `interrupted` (a worker doing it
would interrupt its live siblings' turns), and with LLM_SERVER_URL unset or `local`
it starts the local model server and hands its URL to the workers
through the environment: `-w 4` means four API workers sharing one model.

Metrics: the master gives the workers a fresh PROMETHEUS_MULTIPROC_DIR (unless one
is set), so that a scrape of any worker adds up all of them; a worker that exits
is marked dead there, so its gauges leave the sum (services/metrics.py).
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import tempfile
from typing import Any

import uvicorn_worker

from config import Settings, get_settings, is_loopback
from models.database import Migration, migrate, unreachable_message
from services.listen_address import address_in_use, in_use_message
from services.llm.local_server import LocalModelError, LocalModelServer, start, wants_local_model
from services.storage import Database
from services.turns.orphans import interrupt_at_startup

_local_model: list[LocalModelServer] = []
_metrics_dirs: list[str] = []
# services/metrics.py reads it; named here, not imported: prometheus-client picks its
# mode when first imported, and the workers inherit the master's modules.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class UvicornWorker(uvicorn_worker.UvicornWorker):  # type: ignore[misc]  # untyped
    """The maintained uvicorn worker class (uvicorn-worker), handed the listening
    sockets themselves rather than gunicorn's wrappers of them.

    uvloop closes a listening socket through libuv when the worker stops, then
    detaches a socket object but calls close() on anything else: on gunicorn's
    wrapper that closes the descriptor a second time, and every worker logged
    "Error while closing socket [Errno 9] Bad file descriptor" at every shutdown.
    """

    def run(self) -> None:
        self.sockets: list[Any] = [getattr(sock, "sock", sock) for sock in self.sockets]
        super().run()


worker_class = UvicornWorker  # `-k` on the command line would replace it

# SIGTERM to the master: each worker drains (services/drain.py) for up to
# SHUTDOWN_GRACE_SECONDS, then ends its last responses; only after this long does
# the master kill a worker outright.
graceful_timeout = math.ceil(get_settings().shutdown_grace_seconds) + 10


def on_starting(server: Any) -> None:
    settings = get_settings()  # a bad setting stops the master here, with one clear line
    get_settings.cache_clear()  # workers must read the environment again, as set below
    _exit_if_an_address_is_in_use(server)
    _metrics_directory()
    if unreachable := unreachable_message(settings.database_url):
        server.log.error(unreachable)
        raise SystemExit(2)
    if exposed := _non_loopback_bind(server.cfg.bind):
        # AUTH_MODE's default follows the address the service listens on: --bind
        # 0.0.0.0:8080 must mean api_key (and its warnings) unless set otherwise.
        os.environ["HOST"] = exposed
    if settings.interrupt_orphans_at_startup:
        migration, count = asyncio.run(_migrate_and_interrupt_orphans(settings))
        if migration:
            server.log.info(migration.describe())
        if count:
            server.log.warning(
                "%d turn(s) left streaming by a previous run are now interrupted", count
            )
        os.environ["INTERRUPT_ORPHANS_AT_STARTUP"] = "false"  # live workers own their turns
    if wants_local_model(settings):
        try:
            model = asyncio.run(start(settings))
        except LocalModelError as exc:
            server.log.error("Cannot start the local model: %s", exc)
            raise SystemExit(2) from None
        _local_model.append(model)
        os.environ["LLM_SERVER_URL"] = model.url
        server.log.info("local model server at %s for all workers", model.url)


def _metrics_directory() -> None:
    """A directory of its own for the workers' metric files, emptied at exit."""
    if os.environ.get(MULTIPROCESS_ENV):
        return
    directory = tempfile.mkdtemp(prefix="chat-metrics-")
    os.environ[MULTIPROCESS_ENV] = directory
    _metrics_dirs.append(directory)


def child_exit(server: Any, worker: Any) -> None:
    """The worker's live gauges (replies generating) leave the sum."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def _exit_if_an_address_is_in_use(server: Any) -> None:
    """Before the local model and the migrations: gunicorn would bind only after them.
    Not when the sockets are inherited (a re-exec on USR2, systemd) or shared
    (--reuse-port): then binding is not ours to judge."""
    if server.cfg.reuse_port or os.environ.get("GUNICORN_FD") or os.environ.get("LISTEN_FDS"):
        return
    for address in server.cfg.address:
        if isinstance(address, tuple) and address_in_use(address[0], int(address[1])):
            server.log.error(in_use_message(address[0], int(address[1])))
            raise SystemExit(2)


def _non_loopback_bind(binds: list[str]) -> str | None:
    """The first address gunicorn binds that is not loopback (unix sockets are local)."""
    for bind in binds:
        if bind.startswith(("unix:", "fd://")):
            continue
        host = bind.rsplit(":", 1)[0] if bind.count(":") == 1 or "]" in bind else bind
        host = host.strip("[]")
        if not is_loopback(host):
            return host
    return None


async def _migrate_and_interrupt_orphans(settings: Settings) -> tuple[Migration | None, int]:
    database = Database.open(settings.database_url, settings.db_busy_timeout_ms)
    try:
        migration = await migrate(database.engine)
        return migration, await interrupt_at_startup(database, settings.orphan_after_seconds)
    finally:
        await database.close()


def on_exit(server: Any) -> None:
    while _local_model:
        _local_model.pop().stop()
    while _metrics_dirs:
        shutil.rmtree(_metrics_dirs.pop(), ignore_errors=True)
