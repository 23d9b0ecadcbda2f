"""Messages a /v1 request stored from its own list, before its turn ran.

A request that names no session is stored as a new one first, and one that goes on
in a session with several items appends the earlier ones first, so nothing of it is
lost. If the turn is then refused before it stored anything (a message over the
context, `context_length_exceeded`, the key's stream limit, the service draining),
the client got a 4xx or 503 for a request that leaves nothing behind on /api, and
the door must not leave half a conversation behind either: the new session, or the
appended messages, go. A turn that began (its reply became the active leaf) and then
failed keeps them, with its `failed` reply.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from models.auth import Caller
from services.errors import ServiceError
from services.sessions import SessionService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Imported:
    session_id: str
    leaf_id: str | None  # the active leaf once stored: a turn that begins moves it
    undo: Callable[[], Awaitable[None]]  # deletes what was stored


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
        if session.active_leaf_id == imported.leaf_id:  # the turn stored nothing
            await imported.undo()
    except ServiceError as exc:
        log.warning("session %s, made for a refused turn, kept: %s", imported.session_id, exc)
