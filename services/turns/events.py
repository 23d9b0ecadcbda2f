"""The events of a turn, as every transport sends them (SSE, WebSocket, resume).

Event ids are per-turn sequence numbers: start is 1, the n-th delta is n + 1, then
one `tool_call` event per call the reply made (once its text has ended), and the
terminal event (`done` or `error`) comes last. A replay from stored text keeps
that numbering: the stored delta lengths map any id to a text offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.errors import ServiceError

TERMINAL_EVENTS = frozenset({"done", "error"})


@dataclass(frozen=True, slots=True)
class TurnEvent:
    id: int
    type: str
    data: dict[str, Any]

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS


def start_payload(session_id: str, user_message_id: str, message_id: str) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "user_message_id": user_message_id,
        "message_id": message_id,
    }


def done_payload(
    message_id: str,
    finish_reason: str | None,
    token_usage: dict[str, Any] | None,
    prompt_tokens: int | None,
) -> dict[str, Any]:
    """`prompt_tokens`: the context plan's count of the prompt (null before plans)."""
    return {
        "message_id": message_id,
        "finish_reason": finish_reason,
        "token_usage": token_usage,
        "prompt_tokens": prompt_tokens,
    }


def tool_call_payload(call: dict[str, Any], index: int) -> dict[str, Any]:
    """A `tool_call` event: one whole call of the reply (models/tools.py's ToolCall)
    and its place among the reply's calls (0-based), which a resumed stream keeps."""
    return {"tool_call": call, "index": index}


def error_payload(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, ServiceError):
        return {"code": exc.code, "message": exc.message}
    return {"code": "internal_error", "message": "Internal server error"}
