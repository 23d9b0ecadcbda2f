"""One conversation of an import file, read into one shape whatever its format."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class NotImportable(ValueError):
    """A conversation that cannot go in; the message says what and where."""


@dataclass(slots=True)
class ImportedMessage:
    key: str  # its id in the file
    parent_key: str | None
    role: str  # user, assistant, tool
    content: str
    created_at: datetime | None
    status: str = "complete"
    # Stored as they are: finish_reason, token_usage, error, model, tool_calls, tool_results.
    columns: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Conversation:
    source: str  # "export" or "chatgpt"
    source_id: str | None
    title: str | None
    created_at: datetime | None
    messages: list[ImportedMessage]
    leaf_key: str | None  # the message the active path ends at, when the file says
    system_prompt: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""  # of the conversation as the file has it (re-imports)


def fingerprint(raw: Any) -> str:
    """A digest of the conversation's JSON, keys sorted: the same conversation in two
    files has the same one, one message more makes another."""
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def from_epoch(value: Any) -> datetime | None:
    """ChatGPT's times: seconds since 1970 as a number; None when absent or absurd."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None
