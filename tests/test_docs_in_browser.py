"""Swagger UI and ReDoc render in a real browser (Debian's Chromium, headless) that can
reach nothing but the service: every operation of the schema appears on both pages.

Host names other than the service's resolve to nothing here, so a page that needed a
CDN, web fonts or a validator badge would render blank or incomplete, as it does on
a self-hosted machine without internet.
"""

from __future__ import annotations

import subprocess
import tempfile

import httpx
import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_chromium
from tests.conftest import App

QUIET_HEADLESS = ["--headless", *CHROMIUM_ARGS]

pytestmark = [pytest.mark.slow, needs_chromium]


def rendered(url: str) -> str:
    """The page's DOM once its scripts have run."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                CHROMIUM,
                *QUIET_HEADLESS,
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def operations(client: httpx.Client) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


def test_swagger_ui_renders_every_operation_offline(app: App, client: httpx.Client) -> None:
    dom = rendered(f"{app.url}/docs")
    expected = operations(client)
    assert dom.count('class="opblock-summary-method"') == len(expected)
    for method, path in expected:
        assert f'data-path="{path}"' in dom, (method, path)


def test_redoc_renders_every_operation_offline(app: App, client: httpx.Client) -> None:
    dom = rendered(f"{app.url}/redoc")
    for _, path in operations(client):
        assert path in dom, path
    assert "Session-persistent chat backend" in dom
