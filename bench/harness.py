"""Processes the benchmarks run: the fast fake LLM and the service, on 127.0.0.1.

Both are context managers that start a real process on a free port, wait until it
answers, and stop it on exit. The service runs as the README runs it (`python
main.py`, one uvicorn worker) or under gunicorn with N workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, wait_until_up  # noqa: E402

__all__ = ["FastLLM", "Service", "free_port", "rss_kib"]


class _Running:
    """A child process with its output in a log file."""

    argv: list[str]
    env: dict[str, str]
    log: Path
    ready_path: str
    url: str
    process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Any:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.log.parent, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_until_up(self.url + self.ready_path, self.process, self.log)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid


class FastLLM(_Running):
    """bench/fast_llm.py: `tokens` per reply, optional TTFT and per-token delay."""

    def __init__(
        self, workdir: Path, tokens: int = 32, ttft: float = 0.0, token_delay: float = 0.0
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [
            sys.executable,
            str(ROOT / "bench" / "fast_llm.py"),
            f"--port={self.port}",
            f"--tokens={tokens}",
            f"--ttft={ttft}",
            f"--token-delay={token_delay}",
        ]
        self.env = dict(os.environ)
        self.log = workdir / f"fast_llm_{self.port}.log"
        self.ready_path = "/v1/models"


class Service(_Running):
    """The chat service on its own SQLite file; `workers` > 1 runs it under gunicorn."""

    def __init__(self, workdir: Path, llm_url: str, workers: int = 1, **settings: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = workdir / "chat.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "MAX_"))}
        env.update(
            HOST="127.0.0.1",
            PORT=str(self.port),
            DATABASE_URL=str(self.db_path),
            LLM_SERVER_URL=llm_url,
            LLM_MODEL="bench-model",
            LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
        )
        env.update({key.upper(): str(value) for key, value in settings.items()})
        self.env = env
        if workers == 1:
            self.argv = [sys.executable, str(ROOT / "main.py")]
        else:
            self.argv = [
                sys.executable,
                "-m",
                "gunicorn",
                "main:app",
                f"--config={ROOT / 'gunicorn.conf.py'}",
                f"--workers={workers}",
                "--worker-class=uvicorn.workers.UvicornWorker",
                f"--bind=127.0.0.1:{self.port}",
            ]
        self.log = workdir / "service.log"
        self.ready_path = "/api/health/live"


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn workers), in KiB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [
            int(child)
            for task in tasks
            for child in (task / "children").read_text().split()
            if child.isdigit()
        ]
    except OSError:
        return []
