"""PostgreSQL's own concerns: reaching the server, several instances on one database.

Everything else (sessions, trees, summaries, profiles, keys...) runs on PostgreSQL
through the `backend` fixture of every storage test; these are what only it has.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from subprocess import PIPE

import psycopg

from tests.conftest import ROOT, App, FakeLLM, free_port, run_main
from tests.helpers import chat, history
from tests.postgres import PostgresServer


def test_an_unreachable_database_at_startup_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = f"postgresql://chat:s3cret@127.0.0.1:{free_port()}/chat"
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "LLM_SERVER_URL": "http://127.0.0.1:9"}
    result = run_main(tmp_path, env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Cannot reach the database at postgresql://chat:***@127.0.0.1")
    assert "Connection refused" in lines[0]
    assert "s3cret" not in result.stderr + result.stdout


# Imports done, each process waits for the go file, so the migrations truly overlap.
_MIGRATE_AT_ONCE = """
import asyncio, sys, time
from pathlib import Path
from models.database import create_engine, migrate

async def main() -> None:
    engine = create_engine(sys.argv[1])
    while not Path(sys.argv[2]).exists():
        time.sleep(0.005)
    migration = await migrate(engine)
    print(migration.describe() if migration else "nothing to do")
    await engine.dispose()

asyncio.run(main())
"""


def test_migrations_started_at_the_same_moment_run_one_at_a_time(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url, go = postgres_server.create_database(), tmp_path / "go"
    argv = [sys.executable, "-c", _MIGRATE_AT_ONCE, url, str(go)]
    runs = [subprocess.Popen(argv, cwd=ROOT, stdout=PIPE, stderr=PIPE, text=True) for _ in range(4)]
    time.sleep(3)  # every process imported and waiting
    go.touch()
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, outputs
    said = sorted(out.strip() for out, _ in outputs)
    assert said == ["database created at schema revision 0011"] + ["nothing to do"] * 3


def test_instances_starting_together_on_a_new_database_migrate_it_once(
    postgres_server: PostgresServer, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    url = postgres_server.create_database()
    apps = [App(tmp_path / f"i{n}", fake_llm.url, database_url=url) for n in range(3)]
    starters = [threading.Thread(target=instance.start) for instance in apps]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    try:
        logs = [instance.output() for instance in apps]
        assert sum("database created at schema revision" in log for log in logs) == 1, logs
        with apps[0].client() as first, apps[2].client() as third:
            reply = chat(first, message="one database")
            assert len(history(third, reply["session_id"])) == 2
    finally:
        for instance in apps:
            instance.stop()
    with psycopg.connect(url) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
    assert revision == "0011"
