"""Fixtures that start real processes: the fake LLM server, PostgreSQL and the app.

The app runs as `python main.py` (the README's run command) on 127.0.0.1 with a
port from this test process's own range (free_port); its working directory is a
temp dir, so a developer's own .env never leaks into the tests. Its database is a
SQLite file in that dir or a database of its own on the tests' PostgreSQL server:
every test that starts an app through these fixtures runs on both (`backend`,
parametrized; TEST_DATABASES=sqlite narrows it). A test about the SQLite file itself
carries `@pytest.mark.sqlite_only("why")`.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.postgres import PostgresServer, running_server

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 30
BACKENDS = os.environ.get("TEST_DATABASES", "sqlite,postgresql").split(",")


# Each test process hands out ports from a range of its own, below the kernel's
# ephemeral range (32768-60999 by default): a port asked for with bind(0) is free only
# at that moment, and a parallel test's bind(0) or outgoing connection could take it
# before the service started on it binds it. Here no other test process, and no
# kernel-chosen port, ever lands in this process's range.
PORTS_PER_PROCESS = 1500
_FIRST_PORT = 20000 + PORTS_PER_PROCESS * int(
    os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0
)
_next_ports = itertools.cycle(range(_FIRST_PORT, _FIRST_PORT + PORTS_PER_PROCESS))


def free_port() -> int:
    """A port on 127.0.0.1 nothing is bound to, from this test process's own range."""
    for _ in range(PORTS_PER_PROCESS):
        port = next(_next_ports)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use, or lingering after a server that stopped
            return port
    raise RuntimeError(f"no free port in {_FIRST_PORT}-{_FIRST_PORT + PORTS_PER_PROCESS - 1}")


class RefusedPort:
    """A port on 127.0.0.1 where nothing listens, held until `release()`.

    A port from `free_port()` is free only at the moment it is asked for: a parallel
    test's server can bind it a moment later, and a test expecting "connection
    refused" then talks to that server (a CI flake). This socket stays bound without
    listening and without SO_REUSEADDR, so connections are refused and no other
    process can bind the port while it is held."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def release(self) -> None:
        """Free the port, for a test that starts a server there next."""
        self._socket.close()


@pytest.fixture
def refused_port() -> Iterator[RefusedPort]:
    held = RefusedPort()
    yield held
    held.release()


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up:\n{log.read_text()}")


def child_pids(parent_pid: int, marker: bytes = b"") -> list[int]:
    """Live processes whose parent is `parent_pid` and whose command line has `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == parent_pid and stat[0] != "Z" and marker in cmdline:
            found.append(int(entry.name))
    return found


def run_main(
    cwd: Path, env: dict[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`python main.py` run to its exit (a startup that must fail), output captured;
    its temporary files (a failed model server's log) in `cwd`."""
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py")],
        env={"TMPDIR": str(cwd), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Process:
    """A child process with its output in a log file, stopped gracefully."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.argv, self.env, self.cwd, self.log = argv, env, cwd, log
        self.process: subprocess.Popen[bytes] | None = None
        # In a process group of its own, a signal can reach all of it at once, as
        # Ctrl-C in a terminal does (os.killpg), and no other test's processes.
        self.own_process_group = False

    def start(self, ready_url: str) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_process_group,
            )
        wait_until_up(ready_url, self.process, self.log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.own_process_group:
            # whatever the main process left behind (gunicorn workers of a killed master)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class FakeLLM:
    """Handle on the fake LLM server process (tests/fake_llm.py)."""

    def __init__(self, workdir: Path, port: int = 0, *options: str) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, str(ROOT / "tests" / "fake_llm.py"), "--port", str(self.port)]
        argv += options
        self.proc = Process(argv, dict(os.environ), workdir, workdir / "fake_llm.log")

    def start(self) -> None:
        self.proc.start(f"{self.url}/_control/requests")

    def script(self, *behaviours: dict[str, Any]) -> None:
        httpx.post(f"{self.url}/_control/script", json=list(behaviours)).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_control/requests").json())

    def last_body(self) -> dict[str, Any]:
        return dict(self.requests()[-1]["body"])

    def reset(self) -> None:
        httpx.post(f"{self.url}/_control/reset").raise_for_status()

    def tokenizer(self, style: str) -> None:
        """Serve a tokenize route like that server's (llama.cpp, vllm, llama-cpp-python)."""
        httpx.post(f"{self.url}/_control/tokenizer", json={"style": style}).raise_for_status()

    def tokenize_calls(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_control/tokenize_calls").json())


class App:
    """The service as a real process; restartable on the same database file."""

    def __init__(self, workdir: Path, llm_url: str, **settings: Any) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = workdir / "chat.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "MAX_"))}
        env.update(
            HOST="127.0.0.1",
            PORT=str(self.port),
            DATABASE_URL=str(self.db_path),
            LLM_SERVER_URL=llm_url,
            LLM_READ_TIMEOUT="2",
            LLM_CONNECT_TIMEOUT="2",
            LLM_RETRY_BACKOFF_SECONDS="0.05",
            SSE_KEEPALIVE_SECONDS="0.3",
            LOG_LEVEL="INFO",
            # Titles are written where a test asks (tests/test_search.py): their request
            # would change what every other test's fake LLM sees.
            AUTO_TITLE="false",
            # Temporary files (the local model's log, which a kill -9 leaves behind)
            # in the test's own folder, not the system's temporary directory.
            TMPDIR=str(workdir),
        )
        env.update({key.upper(): str(value) for key, value in settings.items()})
        self.env = env
        argv = self.command()
        self.proc = Process(argv, env, workdir, workdir / "app.log")

    def command(self) -> list[str]:
        return [sys.executable, str(ROOT / "main.py")]

    def start(self) -> App:
        self.proc.start(f"{self.url}/api/health/live")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.stop(sig)

    def restart(self) -> None:
        self.stop()
        self.start()

    def sibling(self, **settings: Any) -> App:
        """Another service process on this app's database (not yet started): another
        worker, or another instance behind the same load balancer."""
        settings = {"database_url": self.env["DATABASE_URL"], **settings}
        return App(self.workdir, self.env["LLM_SERVER_URL"], **settings)

    def client(self, **kwargs: Any) -> httpx.Client:
        kwargs.setdefault("timeout", 15)
        return httpx.Client(base_url=self.url, **kwargs)

    def run_cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`python main.py <args>` (backup, keys) on this app's database, as an operator
        runs it beside the service."""
        return subprocess.run(
            [sys.executable, str(ROOT / "main.py"), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def keys(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run_cli("keys", *args)

    def create_key(self, name: str, admin: bool = False) -> str:
        """A new key: the last line `keys create` prints."""
        done = self.keys("create", "--name", name, *(["--admin"] if admin else []))
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    @property
    def on_postgres(self) -> bool:
        return self.env["DATABASE_URL"].startswith("postgresql")

    def db(self) -> sqlite3.Connection | PostgresDirect:
        """The app's database opened directly, as an operator would: the SQLite file,
        or a psycopg connection that takes the same `?` placeholders."""
        if self.on_postgres:
            return PostgresDirect(psycopg.connect(self.env["DATABASE_URL"], autocommit=True))
        return sqlite3.connect(self.db_path)

    def output(self) -> str:
        return self.proc.output()


class PostgresDirect:
    """sqlite3's `execute(sql, params)` over psycopg, so one test body reads both."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.conn.execute(sql.replace("%", "%%").replace("?", "%s"), params)

    def executemany(self, sql: str, rows: Any) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(sql.replace("%", "%%").replace("?", "%s"), rows)

    def __enter__(self) -> PostgresDirect:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()  # autocommit: every statement committed as it ran


class ServerApp(App):
    """The same app, started by another server command."""

    def __init__(self, argv: list[str], *args, **kwargs) -> None:
        self._argv = argv
        super().__init__(*args, **kwargs)

    def command(self) -> list[str]:
        return [
            arg.replace("{port}", str(self.port)).replace("{workdir}", str(self.workdir))
            for arg in self._argv
        ]

    def run_from_repository(self) -> ServerApp:
        """Run in the repository (gunicorn reads gunicorn.conf.py from there)."""
        self.env["PYTHONPATH"] = str(ROOT)
        self.proc = Process(self.command(), self.env, ROOT, self.workdir / "server.log")
        return self


def gunicorn_argv(workers: int) -> list[str]:
    """gunicorn as the README runs it (the worker class comes from gunicorn.conf.py);
    its control socket in the test's own folder ({workdir}), not the home directory."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "main:app",
        "-w",
        str(workers),
        "--bind",
        "127.0.0.1:{port}",
        "--control-socket",
        "{workdir}/gunicorn.ctl",
    ]


def litter() -> set[Path]:
    """Files a test run could leave outside its own folders: the local model's logs
    in the system's temporary directory, gunicorn's control socket in the home one.
    Not those of a service running beside the tests (a developer's `make run`): a
    log some process still writes, a control socket some gunicorn still serves."""
    logs = set(Path(tempfile.gettempdir()).glob("local-model-*.log")) - open_files()
    control = Path.home() / ".gunicorn"
    serving = any(b"gunicorn" in line and b"--control-socket" not in line for line in cmdlines())
    return logs | ({control} if control.exists() and not serving else set())


def open_files() -> set[Path]:
    """Every file some process on this machine has open (that we may look at)."""
    found = set()
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        with contextlib.suppress(OSError):
            found.add(Path(os.readlink(fd)))
    return found


def cmdlines() -> list[bytes]:
    found = []
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            found.append(entry.read_bytes())
    return found


@pytest.fixture(scope="session", autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    before = litter()
    yield
    assert litter() <= before, f"the tests left {sorted(litter() - before)} behind"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A browser test that fails leaves a screenshot of its page (tests/browser.py)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and page is not None:
        from tests.browser import SCREENSHOTS

        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{item.name.replace('/', '_')}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(path), full_page=True)
            report.sections.append(("screenshot", str(path)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A `sqlite_only` test's PostgreSQL run is left out (its marker says why)."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None and not marker.args:
            raise pytest.UsageError(f"{item.nodeid}: sqlite_only needs its reason")
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("backend") == "postgresql"
        (dropped if marker is not None and on_postgres else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """This test process's PostgreSQL cluster, started on first use."""
    with running_server(tmp_path_factory.mktemp("postgres"), free_port()) as server:
        yield server


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def new_database(backend: str, request: pytest.FixtureRequest) -> Callable[[], dict[str, str]]:
    """Settings giving a new app a new database: nothing on SQLite (its file in the
    app's folder), `database_url` of a new PostgreSQL database otherwise."""
    if backend == "sqlite":
        return dict
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return lambda: {"database_url": server.create_database()}


@pytest.fixture(scope="session")
def fake_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeLLM]:
    server = FakeLLM(tmp_path_factory.mktemp("fake_llm"))
    server.start()
    yield server
    server.proc.stop()


@pytest.fixture(autouse=True)
def _clean_fake_llm(request: pytest.FixtureRequest) -> None:
    if "fake_llm" in request.fixturenames or "app" in request.fixturenames:
        request.getfixturevalue("fake_llm").reset()


@pytest.fixture(scope="session")
def app(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM, new_database: Any
) -> Iterator[App]:
    """The shared app: default settings, fake LLM, short timeouts for fast failure tests."""
    instance = App(tmp_path_factory.mktemp("app"), fake_llm.url, **new_database()).start()
    yield instance
    instance.stop()


@pytest.fixture
def client(app: App) -> Iterator[httpx.Client]:
    with app.client() as http:
        yield http


@pytest.fixture
def make_app(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM, new_database: Any
) -> Iterator[Any]:
    """Start extra apps with their own settings (and database); all are stopped after
    the test."""
    started: list[App] = []

    def start(**settings: Any) -> App:
        llm_url = settings.pop("llm_server_url", fake_llm.url)
        settings = {**new_database(), **settings}
        instance = App(tmp_path_factory.mktemp("app"), llm_url, **settings).start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
def second_process(app: App) -> Iterator[App]:
    """Another service process on the same database file: a second worker."""
    other = app.sibling(interrupt_orphans_at_startup="false")
    other.start()
    yield other
    other.stop()


@dataclass
class Tenants:
    """An app with AUTH_MODE=api_key and three keys: alice, bob and an admin."""

    app: App
    alice: str
    bob: str
    admin: str

    def client(self, key: str | None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.app.client(headers=headers, **kwargs)


@pytest.fixture(scope="session")
def tenants(
    tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLM, new_database: Any
) -> Iterator[Tenants]:
    # No rate limit here: limits have their own tests (test_rate_limits.py).
    workdir = tmp_path_factory.mktemp("secure")
    settings = {"auth_mode": "api_key", "rate_limit": "", **new_database()}
    instance = App(workdir, fake_llm.url, **settings).start()
    alice, bob = instance.create_key("alice"), instance.create_key("bob")
    yield Tenants(instance, alice, bob, admin=instance.create_key("root", admin=True))
    instance.stop()
