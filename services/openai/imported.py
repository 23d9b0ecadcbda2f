"""A session a /v1 request made from its own messages, before its turn ran.

A request that names no session is stored as a new one first, so nothing of it is
lost. If the turn is then refused before it stored anything (a message over the
context, `context_length_exceeded`, the key's stream limit, the service draining),
the client got a 4xx or 503 for a request that left nothing behind on /api, and the
door must not leave a half conversation behind either: the session goes. A turn that
began and failed (the LLM server down) keeps it, with its `failed` reply.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from models.auth import Caller
from services.errors import ServiceError
from services.sessions import SessionService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Imported:
    session_id: str
    messages: int  # how many it was made with


@asynccontextmanager
async def gone_if_refused(
    sessions: SessionService, imported: Imported | None, caller: Caller
) -> AsyncIterator[None]:
    """Around starting the turn: a refusal deletes the session `imported` made."""
    try:
        yield
    except ServiceError:
        if imported is not None:
            await _drop_unanswered(sessions, imported, caller)
        raise


async def _drop_unanswered(sessions: SessionService, imported: Imported, caller: Caller) -> None:
    try:
        session = await sessions.get(imported.session_id, caller)
        if session.message_count == imported.messages:  # the turn stored nothing
            await sessions.delete(imported.session_id, caller)
    except ServiceError as exc:
        log.warning("session %s, made for a refused turn, kept: %s", imported.session_id, exc)
