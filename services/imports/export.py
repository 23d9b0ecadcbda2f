"""This service's own export (GET /api/sessions/{id}/export): `{session, messages}`,
every message with its id and parent, so the tree comes back as it was. Ids are new
on the way in; statuses, token usage, models, tool calls and results are kept, and a
reply that was still `streaming` when exported comes in `interrupted`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from models.message import MessageStatus, SessionExport
from services.imports.conversation import Conversation, ImportedMessage, NotImportable, fingerprint

KEPT_COLUMNS = ("finish_reason", "token_usage", "error", "model", "tool_calls", "tool_results")


def read_export(raw: dict[str, Any]) -> Conversation:
    try:
        export = SessionExport.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise NotImportable(f"{where}: {first['msg']}") from None
    session = export.session
    messages = [
        ImportedMessage(
            key=message.message_id,
            parent_key=message.parent_id,
            role=message.role.value,
            content=message.content,
            created_at=message.created_at,
            status=_status(message.status),
            columns=_columns(message.model_dump(mode="json")),
        )
        for message in export.messages
    ]
    return Conversation(
        source="export",
        source_id=session.session_id,
        title=session.title,
        created_at=session.created_at,
        messages=messages,
        leaf_key=session.active_leaf_id,
        system_prompt=session.system_prompt,
        metadata=session.metadata,
        fingerprint=fingerprint(raw),
    )


def _status(status: MessageStatus) -> str:
    return MessageStatus.INTERRUPTED if status == MessageStatus.STREAMING else status.value


def _columns(message: dict[str, Any]) -> dict[str, Any]:
    columns = {name: message.get(name) for name in KEPT_COLUMNS}
    return {name: value for name, value in columns.items() if value is not None}
