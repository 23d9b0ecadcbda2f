"""Processes the benchmarks run: the fast fake LLM and the service, on 127.0.0.1.

Built on the test suite's process handles (tests/conftest.py: Process, App,
ServerApp), with settings for measuring rather than for failing fast. Both are
context managers that start a real process on a free port, wait until it answers,
and stop it on exit, also when it never came up. The service runs as the README
runs it (`python main.py`, one uvicorn worker) or under gunicorn with N workers.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import (  # noqa: E402
    App,
    FakeLLM,
    Process,
    ServerApp,
    child_pids,
    free_port,
    gunicorn_argv,
)

__all__ = [
    "App",
    "FastLLM",
    "Floor",
    "Service",
    "fake_llm_in_tempdir",
    "free_port",
    "pid_of",
    "print_figures",
    "rss_kib",
]

# The tests' App fails fast (2 s timeouts, 0.3 s keep-alives); a benchmark does not.
BENCH_SETTINGS = {
    "llm_model": "bench-model",
    "llm_read_timeout": 120,
    "llm_connect_timeout": 5,
    "sse_keepalive_seconds": 15,
    "log_level": "WARNING",
}


class _Helper:
    """A bench process on a free port: started on entry (stopped if it never came
    up, when `ready_path` does not answer), stopped on exit."""

    proc: Process
    url: str
    ready_path: str

    def __enter__(self) -> Self:
        try:
            self.proc.start(f"{self.url}{self.ready_path}")
        except BaseException:
            self.proc.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.stop()


class FastLLM(_Helper):
    """bench/fast_llm.py: `tokens` per reply, optional TTFT and per-token delay."""

    def __init__(
        self,
        workdir: Path,
        tokens: int = 32,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        tokenize: bool = False,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, str(ROOT / "bench" / "fast_llm.py"), f"--port={self.port}"]
        argv += [f"--tokens={tokens}", f"--ttft={ttft}", f"--token-delay={token_delay}"]
        argv += ["--tokenize"] if tokenize else []
        self.proc = Process(argv, dict(os.environ), workdir, workdir / f"fast_llm_{self.port}.log")

    ready_path = "/v1/models"


class Floor(_Helper):
    """bench/floor.py: the minimal persisted turn on the same libraries, on its own
    SQLite file or `database_url` (PostgreSQL); `transport` "aiohttp" (httpx-aiohttp,
    as the service) or "httpx"."""

    def __init__(
        self,
        workdir: Path,
        llm_url: str,
        transport: str = "aiohttp",
        database_url: str | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        database = database_url or str(workdir / f"floor_{self.port}.db")
        argv = [sys.executable, str(ROOT / "bench" / "floor.py"), f"--port={self.port}"]
        argv += [f"--llm={llm_url}", f"--database={database}"]
        argv += [f"--transport={transport}"]
        self.proc = Process(argv, dict(os.environ), workdir, workdir / f"floor_{self.port}.log")

    ready_path = "/docs"


@contextmanager
def Service(
    workdir: Path, llm_url: str, workers: int = 1, tree: Path = ROOT, **settings: Any
) -> Iterator[App]:
    """The chat service on its own SQLite file; `workers` > 1 runs it under gunicorn.
    `tree`: another checkout of the service to run (bench/compare.py)."""
    settings = {**BENCH_SETTINGS, **settings}
    if workers == 1:
        app = App(workdir, llm_url, **settings)
        app.proc.argv = [sys.executable, str(tree / "main.py")]
        app.env["PYTHONPATH"] = str(tree)  # the same dict as the process's environment
    else:
        app = ServerApp(gunicorn_argv(workers), workdir, llm_url, **settings)
        app.run_from_repository()
    try:
        app.start()
        yield app
    finally:
        app.stop()


@contextmanager
def fake_llm_in_tempdir() -> Iterator[tuple[FakeLLM, Path]]:
    """The scriptable fake LLM (tests/fake_llm.py), running, and a scratch directory
    for the services a campaign starts; both gone on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        llm = FakeLLM(workdir)
        llm.start()
        try:
            yield llm, workdir
        finally:
            llm.proc.stop()


def print_figures(figures: dict[str, Any], json_path: Path | None) -> None:
    """A campaign's figures on stdout, and in `json_path` when given (`--json`)."""
    text = json.dumps(figures, indent=2)
    print(text)
    if json_path:
        json_path.write_text(text + "\n")


def pid_of(app: App) -> int:
    assert app.proc.process is not None
    return app.proc.process.pid


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn workers), in KiB."""
    total = 0
    for candidate in [pid, *child_pids(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total
