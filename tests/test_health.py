"""Health, liveness and readiness against real dependencies."""

from __future__ import annotations

import sqlite3
import threading

import httpx
import pytest

from tests.conftest import App


def test_health_reports_ok_with_database_and_llm_details(client: httpx.Client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["version"] == "0.1.0"
    assert report["database"]["ok"] is True
    assert report["database"]["latency_ms"] >= 0
    llm = report["llm"]
    assert llm["ok"] is True
    assert llm["url"].startswith("http://127.0.0.1:")
    assert llm["model"] == "fake-model"
    assert llm["latency_ms"] > 0  # the probe really asked the server


def test_live_and_ready_when_everything_works(client: httpx.Client) -> None:
    assert client.get("/api/health/live").json() == {"status": "ok"}
    ready = client.get("/api/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "database": True, "llm": True}


def test_llm_down_is_degraded_but_200_and_not_ready(make_app) -> None:
    app: App = make_app(llm_server_url="http://127.0.0.1:9")
    with app.client() as http:
        response = http.get("/api/health")
        assert response.status_code == 200
        report = response.json()
        assert report["status"] == "degraded"
        assert report["llm"]["ok"] is False
        assert report["llm"]["error"] == "LLM server not available"
        assert http.get("/api/health/ready").status_code == 503
        assert http.get("/api/health/live").status_code == 200


@pytest.mark.sqlite_only("holds SQLite's write lock; PostgreSQL's outage is test_postgres_faults")
def test_unusable_database_is_503_and_service_recovers(make_app) -> None:
    app: App = make_app(db_busy_timeout_ms=200)
    with app.client() as http:
        assert http.post("/api/sessions").status_code == 201
        locked, release = threading.Event(), threading.Event()

        def hold_write_lock() -> None:
            other = sqlite3.connect(app.db_path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            locked.set()
            release.wait(10)
            other.execute("ROLLBACK")
            other.close()

        holder = threading.Thread(target=hold_write_lock)
        holder.start()
        try:
            assert locked.wait(5)
            response = http.get("/api/health")
            assert response.status_code == 503
            report = response.json()
            assert report["status"] == "unavailable"
            assert report["database"]["ok"] is False
            assert "locked" in report["database"]["error"]
            assert http.get("/api/health/ready").status_code == 503
            created = http.post("/api/sessions")
            assert created.status_code == 503
            assert created.json()["code"] == "database_unavailable"
        finally:
            release.set()
            holder.join()
        assert http.get("/api/health").status_code == 200
        assert http.post("/api/sessions").status_code == 201
