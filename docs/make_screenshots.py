"""docs/chat-desktop.png and docs/chat-phone.png: the chat page with a few conversations,
in Debian's Chromium (light theme on the desktop, dark on the phone).

    .venv/bin/python docs/make_screenshots.py

Starts the fake LLM and the service on 127.0.0.1 in a temporary folder, as the tests do.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.conftest import App, FakeLLM  # noqa: E402

REPLY = (
    "The KTX from **Seoul Station** takes about *2.5 hours*.\n\n"
    "1. Book on the Korail site\n2. Pick a window seat\n\n`Seoul -> Busan`"
)


def fill(app: App, llm: FakeLLM) -> str:
    with httpx.Client(base_url=app.url) as http:
        for title in ("Kimchi recipe", "Python asyncio question", "Weekend plans"):
            http.post("/api/sessions", json={"title": title})
        session = http.post("/api/sessions", json={"title": "Trip to Busan", "pinned": True})
        session_id = str(session.json()["session_id"])
        llm.script({"reply": REPLY})
        http.post("/api/chat", json={"session_id": session_id, "message": "How do I get to Busan?"})
    return session_id


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "llm").mkdir()
        llm = FakeLLM(Path(tmp) / "llm")
        llm.start()
        app = App(Path(tmp) / "app", llm.url).start()
        try:
            session_id = fill(app, llm)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for name, width, height, dark in (
                    ("chat-desktop.png", 1200, 700, False),
                    ("chat-phone.png", 390, 760, True),
                ):
                    page = browser.new_page(
                        viewport={"width": width, "height": height},
                        color_scheme="dark" if dark else "light",
                    )
                    page.goto(f"{app.url}/#/s/{session_id}")
                    page.locator("#messages li.assistant strong").wait_for()
                    page.screenshot(path=str(ROOT / "docs" / name))
                    print(ROOT / "docs" / name)
                browser.close()
        finally:
            app.stop()
            llm.proc.stop()


if __name__ == "__main__":
    main()
