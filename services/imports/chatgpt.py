"""ChatGPT's data export (conversations.json): a conversation's `mapping` is its tree.

Each node has an id, a parent, children and maybe a message (the root has none). A
message has an author role, a content (`parts`: text, or objects for images and
files), a create_time in epoch seconds. What comes in: user and assistant messages
with text; their text parts joined by line breaks. What is left out: the empty or
hidden system messages ChatGPT puts first, tool and plugin output (it answered calls
this service never saw), and non-text parts; a message left out hands its children
to its parent, so the tree stays whole. A first non-empty system message becomes
the session's system prompt. `current_node` is the branch the user last saw: it
becomes the active path.
"""

from __future__ import annotations

from typing import Any

from services.imports.conversation import (
    Conversation,
    ImportedMessage,
    NotImportable,
    fingerprint,
    from_epoch,
)

KEPT_ROLES = {"user", "assistant"}


def read_chatgpt(raw: dict[str, Any]) -> Conversation:
    """The conversation, or NotImportable naming what is wrong with it."""
    mapping = raw.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise NotImportable("`mapping` is missing or empty")
    nodes = {str(key): _node(str(key), node) for key, node in mapping.items()}
    system_prompt, messages = None, []
    for key, node in nodes.items():
        parent = node.get("parent")
        if parent is not None and str(parent) not in nodes:
            raise NotImportable(f"node {key!r}: parent {parent!r} is not in the mapping")
        message = node.get("message")
        role, text = _role_and_text(key, message)
        if role == "system" and text.strip() and system_prompt is None:
            system_prompt = text
        if role not in KEPT_ROLES or not text.strip():
            continue
        created = from_epoch(message.get("create_time")) if isinstance(message, dict) else None
        messages.append(ImportedMessage(key, None, role, text, created))
    kept = {message.key for message in messages}
    current = raw.get("current_node")
    leaf = _kept_ancestor(nodes, str(current), kept) if current is not None else None
    return Conversation(
        source="chatgpt",
        source_id=_text_or_none(raw.get("conversation_id") or raw.get("id")),
        title=_text_or_none(raw.get("title")),
        created_at=from_epoch(raw.get("create_time")),
        messages=_reparented(messages, nodes, kept),
        leaf_key=leaf,
        system_prompt=system_prompt,
        metadata={"imported_from": "chatgpt"},
        fingerprint=fingerprint(raw),
    )


def _node(key: str, node: Any) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise NotImportable(f"node {key!r} is not an object")
    return node


def _role_and_text(key: str, message: Any) -> tuple[str | None, str]:
    if message is None:
        return None, ""
    if not isinstance(message, dict):
        raise NotImportable(f"node {key!r}: `message` is not an object")
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    content = message.get("content")
    if not isinstance(content, dict):
        return role, ""
    parts = content.get("parts")
    if isinstance(parts, list):
        return role, "\n".join(part for part in parts if isinstance(part, str))
    text = content.get("text")
    return role, text if isinstance(text, str) else ""


def _kept_ancestor(nodes: dict[str, dict[str, Any]], key: str | None, kept: set[str]) -> str | None:
    """`key`, or its nearest ancestor whose message is kept; NotImportable on a cycle."""
    seen: set[str] = set()
    while key is not None and key in nodes and key not in seen:
        seen.add(key)
        if key in kept:
            return key
        parent = nodes[key].get("parent")
        key = str(parent) if parent is not None else None
    if key is not None and key in seen:
        raise NotImportable(f"node {key!r} is its own ancestor")
    return None


def _reparented(
    messages: list[ImportedMessage], nodes: dict[str, dict[str, Any]], kept: set[str]
) -> list[ImportedMessage]:
    """Each kept message below its nearest kept ancestor."""
    for message in messages:
        parent = nodes[message.key].get("parent")
        message.parent_key = _kept_ancestor(nodes, str(parent), kept) if parent else None
    return messages


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
