"""Process-level behaviour: configuration errors, expiry, uvicorn and gunicorn runs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, App, FakeLLM, ServerApp, free_port, gunicorn_argv, run_main
from tests.helpers import chat, new_session


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PORT", "eighty", "PORT='eighty'"),
        ("LLM_PROTOCOL", "grpc", "LLM_PROTOCOL='grpc': Input should be 'openai' or 'simple'"),
        ("MAX_CONTEXT_MESSAGES", "0", "MAX_CONTEXT_MESSAGES='0'"),
        ("LLM_SERVER_URL", "localhost:8000", "'localhost:8000' is not an http:// or https://"),
        ("LLM_SERVER_URL", "http://a:1,ftp://b", "'ftp://b' is not an http:// or https:// URL"),
        ("LLM_SERVER_URL", "http://a:1, http://a:1/", "lists a server twice"),
        ("DEFAULT_TEMPERATURE", "3", "DEFAULT_TEMPERATURE='3'"),
        ("AUTH_MODE", "password", "AUTH_MODE='password': Input should be 'none' or 'api_key'"),
        ("RATE_LIMIT", "lots", "give requests per period, like 600/minute"),
        ("RATE_LIMIT_STORAGE_URL", "sqlite://x", "not a storage the limits library has"),
        ("CORS_ORIGINS", "*,https://a.example", "`*` allows every origin and must stand alone"),
        ("CORS_ORIGINS", "https://a.example/app", "'https://a.example/app' is not an origin"),
    ],
)
def test_bad_configuration_stops_startup_with_one_line(
    tmp_path, variable: str, value: str, expected: str
) -> None:
    result = run_main(tmp_path, {"PATH": "/usr/bin:/bin", variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Invalid configuration: {variable}=")
    assert expected in lines[0]


def test_a_reply_longer_than_the_context_is_a_configuration_error(tmp_path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DEFAULT_MAX_TOKENS": "4096", "LLM_CONTEXT_TOKENS": "2048"}
    result = run_main(tmp_path, env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Invalid configuration: DEFAULT_MAX_TOKENS (4096) must be below "
        "LLM_CONTEXT_TOKENS (2048): the prompt needs room too"
    )


@pytest.mark.parametrize("url", [None, "local", "LOCAL"])
def test_default_local_model_that_cannot_start_is_one_clear_line(tmp_path, url) -> None:
    """LLM_SERVER_URL unset or `local` means the local model; a missing model file (or
    a missing llama-cpp-python, whichever this environment lacks first) is named."""
    env = {"PATH": "/usr/bin:/bin", "LOCAL_MODEL_PATH": str(tmp_path / "missing.gguf")}
    env["PORT"] = str(free_port())  # not 8080, which a running instance may hold
    if url is not None:
        env["LLM_SERVER_URL"] = url
    result = run_main(tmp_path, env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Cannot start the local model: ")
    assert "missing.gguf" in lines[0] or "make install-llm" in lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield int(listener.getsockname()[1])


def test_a_taken_port_stops_python_main_before_any_work(tmp_path, taken_port: int) -> None:
    """One line naming the address, before the local model starts or the database is
    made (the model here is missing: that would be named if it were asked first)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PORT": str(taken_port),
        "LLM_SERVER_URL": "local",
        "LOCAL_MODEL_PATH": str(tmp_path / "missing.gguf"),
        "DATABASE_URL": str(tmp_path / "chat.db"),
    }
    result = run_main(tmp_path, env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Cannot listen on 127.0.0.1:{taken_port}: the address is already in use (another"
        " instance of this service?). Stop it, or set PORT (or gunicorn's --bind) to a free"
        " port."
    ]
    assert not (tmp_path / "chat.db").exists()


def test_a_taken_port_stops_gunicorn_before_any_work(
    tmp_path, fake_llm: FakeLLM, taken_port: int
) -> None:
    app = ServerApp(gunicorn_argv(2), tmp_path, fake_llm.url).run_from_repository()
    argv = [arg.replace(str(app.port), str(taken_port)) for arg in app.command()]
    started = time.monotonic()
    done = subprocess.run(argv, env=app.env, cwd=ROOT, capture_output=True, text=True, timeout=30)
    # gunicorn's retries (5, a second apart) would log "Retrying", checked below; the
    # time is a bound with room for a loaded machine (about 1 s alone, once 5.9 s in CI)
    assert time.monotonic() - started < 10
    assert done.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{taken_port}: the address is already in use" in done.stderr
    assert "Retrying" not in done.stderr
    assert not app.db_path.exists()


def test_dotenv_file_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text("PORT=notanumber\n")
    result = run_main(tmp_path, {"PATH": "/usr/bin:/bin"})
    assert "PORT='notanumber'" in result.stderr


def test_expired_session_is_404_and_purged_with_its_messages(make_app) -> None:
    app: App = make_app(session_timeout_hours=1 / 3600, session_purge_interval_seconds=0.5)
    with app.client() as http:
        session_id = chat(http, message="short-lived")["session_id"]
        kept_alive = new_session(http)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            http.get(f"/api/sessions/{kept_alive}")  # access keeps it alive
            time.sleep(0.3)
        assert http.get(f"/api/sessions/{session_id}").status_code == 404
        assert http.get(f"/api/sessions/{kept_alive}").status_code == 200
        listed = [s["session_id"] for s in http.get("/api/sessions").json()["items"]]
        assert listed == [kept_alive]
    with app.db() as db:
        rows = db.execute("SELECT count(*) FROM messages WHERE session_id=?", (session_id,))
        assert rows.fetchone() == (0,)
        gone = db.execute("SELECT count(*) FROM sessions WHERE session_id=?", (session_id,))
        assert gone.fetchone() == (0,)


def test_timeout_zero_means_sessions_never_expire(make_app) -> None:
    app: App = make_app(session_timeout_hours=0, session_purge_interval_seconds=0.2)
    with app.client() as http:
        session_id = new_session(http)
        time.sleep(0.6)
        assert http.get(f"/api/sessions/{session_id}").status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", "{port}"],
        gunicorn_argv(workers=2),
    ],
    ids=["uvicorn", "gunicorn-2-workers"],
)
def test_main_app_runs_under_uvicorn_and_gunicorn(
    tmp_path, fake_llm: FakeLLM, argv: list[str]
) -> None:
    app = ServerApp(argv, tmp_path, fake_llm.url).run_from_repository()
    app.start()
    try:
        with app.client() as http:
            session_ids = [chat(http, message=f"worker {n}")["session_id"] for n in range(8)]
            for session_id in session_ids:
                chat(http, session_id=session_id, message="again")
            with http.stream("POST", "/api/chat/stream", json={"message": "s"}) as response:
                assert response.status_code == 200
                assert "done" in response.read().decode()
            pages = http.get("/api/sessions", params={"limit": 100}).json()["items"]
            assert {s["session_id"] for s in pages} >= set(session_ids)
            assert all(s["message_count"] == 4 for s in pages if s["session_id"] in session_ids)
    finally:
        app.stop()
    assert "Traceback" not in app.output()
