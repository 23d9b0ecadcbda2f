"""gunicorn reads this file from the working directory.

With LLM_SERVER_URL unset or `local`, the master starts the local model server
once, before forking, and hands its URL to the workers through the environment:
`-w 4` means four API workers sharing one model, not four models.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from config import get_settings
from services.llm.local_server import LocalModelError, LocalModelServer, start, wants_local_model

_local_model: list[LocalModelServer] = []


def on_starting(server: Any) -> None:
    settings = get_settings()  # a bad setting stops the master here, with one clear line
    get_settings.cache_clear()  # workers must read LLM_SERVER_URL again, as set below
    if wants_local_model(settings):
        try:
            model = asyncio.run(start(settings))
        except LocalModelError as exc:
            server.log.error("Cannot start the local model: %s", exc)
            raise SystemExit(2) from None
        _local_model.append(model)
        os.environ["LLM_SERVER_URL"] = model.url
        server.log.info("local model server at %s for all workers", model.url)


def on_exit(server: Any) -> None:
    while _local_model:
        _local_model.pop().stop()
