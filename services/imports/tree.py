"""An imported conversation checked, and its messages in the order they are stored:
every parent before its children (a message's position, `seq`, follows creation),
siblings by their time. What cannot be stored faithfully is refused whole."""

from __future__ import annotations

import heapq
from datetime import UTC, datetime

from models.session import MAX_METADATA_BYTES, MAX_SYSTEM_PROMPT_CHARS, MAX_TITLE_CHARS
from models.text import json_bytes, unicode_text
from services.imports.conversation import Conversation, ImportedMessage, NotImportable

ROLES = {"user", "assistant", "tool", "system"}
EARLIEST = datetime.min.replace(tzinfo=UTC)


def checked(conversation: Conversation, max_messages: int, max_chars: int) -> list[ImportedMessage]:
    """The messages, parents first; NotImportable naming the first problem."""
    messages = conversation.messages
    if not messages:
        raise NotImportable("it has no message with text")
    if len(messages) > max_messages:
        raise NotImportable(f"{len(messages)} messages, over the {max_messages} an import takes")
    _check_session_fields(conversation)
    for message in messages:
        _check_message(message, max_chars)
    return _parents_first(messages)


def _check_session_fields(conversation: Conversation) -> None:
    if conversation.title is not None:
        conversation.title = _text("the title", conversation.title)[:MAX_TITLE_CHARS].strip()
        conversation.title = conversation.title or None
    if conversation.system_prompt is not None:
        prompt = _text("the system prompt", conversation.system_prompt)
        if len(prompt) > MAX_SYSTEM_PROMPT_CHARS:
            raise NotImportable(f"the system prompt is over {MAX_SYSTEM_PROMPT_CHARS} characters")
    try:
        size = json_bytes(conversation.metadata)
    except ValueError as exc:
        raise NotImportable(f"metadata {exc}") from None
    if size > MAX_METADATA_BYTES:
        raise NotImportable(f"metadata is over {MAX_METADATA_BYTES} bytes as JSON")


def _check_message(message: ImportedMessage, max_chars: int) -> None:
    where = f"message {message.key!r}"
    if message.role not in ROLES:
        raise NotImportable(f"{where}: role {message.role!r} is not one this service stores")
    _text(where, message.content)
    if len(message.content) > max_chars:
        raise NotImportable(f"{where}: {len(message.content)} characters, over {max_chars}")


def _text(where: str, text: str) -> str:
    try:
        return unicode_text(text)
    except ValueError as exc:
        raise NotImportable(f"{where} {exc}") from None


def _parents_first(messages: list[ImportedMessage]) -> list[ImportedMessage]:
    by_key: dict[str, ImportedMessage] = {}
    children: dict[str | None, list[int]] = {}
    for index, message in enumerate(messages):
        if message.key in by_key:
            raise NotImportable(f"message {message.key!r} appears twice")
        by_key[message.key] = message
        children.setdefault(message.parent_key, []).append(index)
    for message in messages:
        if message.parent_key is not None and message.parent_key not in by_key:
            raise NotImportable(
                f"message {message.key!r}: its parent {message.parent_key!r} is missing"
            )
    ready = [(_when(messages[i]), i) for i in children.get(None, [])]
    heapq.heapify(ready)
    ordered: list[ImportedMessage] = []
    while ready:
        _, index = heapq.heappop(ready)
        ordered.append(messages[index])
        for child in children.get(messages[index].key, []):
            heapq.heappush(ready, (_when(messages[child]), child))
    if len(ordered) < len(messages):
        raise NotImportable("its messages' parents go round in a circle")
    return ordered


def _when(message: ImportedMessage) -> datetime:
    return message.created_at or EARLIEST
