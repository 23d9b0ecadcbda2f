"""GET /: the chat page, built into the service (static/: HTML, CSS, JavaScript and two
vendored libraries; no build step, no CDN, so it works offline). It uses the public
API only, with the key the user gives it. Not in the OpenAPI schema: it is a page, not
an API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

PAGE_DIR = Path(__file__).resolve().parent.parent / "static"
PAGE_ASSETS_URL = "/ui"
# Scripts and styles from this origin only, no inline script: a reply's text can never
# become code, even if it got past the Markdown renderer and its sanitizer.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/")
async def chat_page() -> FileResponse:
    return FileResponse(
        PAGE_DIR / "index.html",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
    )
