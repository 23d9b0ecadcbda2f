"""A real PostgreSQL server for the tests: Debian's binaries, a cluster in a temp dir.

PostgreSQL refuses to run as root, so when the tests run as root the server (and
initdb, pg_ctl) run as the `postgres` system user the Debian package creates; its
data directory is made theirs. The server listens on 127.0.0.1 on a free port
only, with trust authentication for local TCP (the tests' own throwaway cluster),
and each App gets a database of its own (`create_database`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

SUPERUSER = "postgres"


def bin_dir() -> Path | None:
    """The newest installed server's binaries (Debian: /usr/lib/postgresql/<v>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=_version)
    return found[-1].parent if found else None


def _version(pg_ctl: Path) -> int:
    return int(pg_ctl.parent.parent.name) if pg_ctl.parent.parent.name.isdigit() else 0


class PostgresServer:
    """One cluster: init, start, stop, restart; databases made on demand."""

    def __init__(self, root: Path, port: int) -> None:
        binaries = bin_dir()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql")
        self.bin, self.port = binaries, port
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self._count = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def init(self) -> PostgresServer:
        self.root.mkdir(parents=True, exist_ok=True)
        _give_to_postgres(self.root)
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "300",
            "fsync": "off",  # a throwaway cluster: durability is not what is tested
            "shared_buffers": "32MB",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        return self

    def start(self) -> None:
        self._ctl("start", "-w", "-t", "30", "-l", str(self.log))

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("stop", "-w", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self._ctl("restart", "-w", "-m", mode, "-l", str(self.log))

    def create_database(self, prefix: str = "app") -> str:
        """A new empty database; its URL."""
        self._count += 1
        name = f"{prefix}_{os.getpid()}_{self._count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), *args)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / program), *args],
            check=True,
            capture_output=True,
            user=SUPERUSER if os.geteuid() == 0 else None,
            cwd=self.root,
            timeout=60,
        )


def _give_to_postgres(path: Path) -> None:
    """The server's folder must belong to the user it runs as."""
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(SUPERUSER)
    for parent in [path, *path.parents]:
        if parent == Path(tempfile.gettempdir()) or parent == Path("/"):
            break
        with contextlib.suppress(OSError):
            os.chmod(parent, os.stat(parent).st_mode | 0o711)  # let it reach its folder
    shutil.chown(path, user.pw_uid, user.pw_gid)


@contextlib.contextmanager
def running_server(root: Path, port: int) -> Iterator[PostgresServer]:
    server = PostgresServer(root, port).init()
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")
