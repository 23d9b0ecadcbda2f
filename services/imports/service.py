"""POST /api/sessions/import: every conversation of a file, each whole or not at all.

A conversation that cannot go in (malformed, over a limit, not text) is reported
`invalid` with the reason and its place in the file, and the others go in. A file
none of whose conversations can go in is InvalidImport (422). The report lists
every conversation in the file's order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.auth import Caller
from models.imports import ImportedItem, ImportReport
from models.text import storable
from models.types import utcnow
from services.errors import InvalidImport
from services.imports.chatgpt import read_chatgpt
from services.imports.conversation import Conversation, NotImportable
from services.imports.export import read_export
from services.imports.store import store_conversation
from services.imports.tree import checked
from services.sessions import SessionService
from services.storage import Database

Reader = Callable[[dict[str, Any]], Conversation]
READERS: dict[str, Reader] = {"chatgpt": read_chatgpt, "export": read_export}
MAX_CONVERSATIONS = 10_000
NAME_CHARS = 200  # of an id or a title, in the report


class ImportService:
    def __init__(
        self, database: Database, sessions: SessionService, max_messages: int, max_chars: int
    ) -> None:
        self.database, self.sessions = database, sessions
        self.max_messages, self.max_chars = max_messages, max_chars

    async def run(self, body: Any, caller: Caller) -> ImportReport:
        items = [await self._one(index, raw, caller) for index, raw in enumerate(_items(body))]
        counts = {status: sum(item.status == status for item in items) for status in
                  ("imported", "duplicate", "invalid")}  # fmt: skip
        if counts["invalid"] == len(items):
            raise InvalidImport(f"nothing could be imported: {_first_problems(items)}")
        return ImportReport(
            imported=counts["imported"],
            duplicates=counts["duplicate"],
            invalid=counts["invalid"],
            items=items,
        )

    async def _one(self, index: int, raw: Any, caller: Caller) -> ImportedItem:
        source = _format_of(raw)
        item = ImportedItem(index=index, source=source, status="invalid")
        item.source_id, item.title = _names(raw)
        try:
            if source == "unknown":
                raise NotImportable("neither an export of this service nor a ChatGPT conversation")
            conversation = READERS[source](raw)
            ordered = checked(conversation, self.max_messages, self.max_chars)
            item.title = conversation.title
            now = utcnow()
            stored = await self.database.write(
                store_conversation, caller, conversation, ordered, now, self.sessions.alive(now)
            )
        except NotImportable as exc:
            item.error = f"conversation {index}{_named(item)}: {exc}"
            return item
        item.status = "imported" if stored.new else "duplicate"
        item.session_id, item.messages = stored.session_id, stored.messages
        return item


def _items(body: Any) -> list[Any]:
    """The file's conversations: a list, one export, or `{"conversations": [...]}`."""
    if isinstance(body, dict) and isinstance(body.get("conversations"), list):
        body = body["conversations"]
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body:
        raise InvalidImport(
            "the body must be this service's export, ChatGPT's conversations.json (a list),"
            ' or {"conversations": [...]} of either, with at least one conversation'
        )
    if len(body) > MAX_CONVERSATIONS:
        raise InvalidImport(
            f"{len(body)} conversations, over the {MAX_CONVERSATIONS} one import takes"
        )
    return body


def _format_of(raw: Any) -> str:
    if isinstance(raw, dict) and "mapping" in raw:
        return "chatgpt"
    if isinstance(raw, dict) and "session" in raw and "messages" in raw:
        return "export"
    return "unknown"


def _names(raw: Any) -> tuple[str | None, str | None]:
    """The conversation's id and title as the file gives them, to name it in errors."""
    if not isinstance(raw, dict):
        return None, None
    session = raw.get("session")
    fields: dict[str, Any] = session if isinstance(session, dict) else raw
    source_id = fields.get("conversation_id") or fields.get("id") or fields.get("session_id")
    title = fields.get("title")
    return _shown(source_id), _shown(title)


def _shown(value: Any) -> str | None:
    """A name from the file as it can be shown: text, cut short (it is not trusted)."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:NAME_CHARS].encode("utf-8", "replace").decode("utf-8")
    return storable(text)


def _named(item: ImportedItem) -> str:
    names = [
        f"id {item.source_id!r}" if item.source_id else "",
        f"{item.title!r}" if item.title else "",
    ]
    shown = ", ".join(name for name in names if name)
    return f" ({shown})" if shown else ""


def _first_problems(items: list[ImportedItem]) -> str:
    shown = "; ".join(item.error or "" for item in items[:3])
    return shown + (f"; and {len(items) - 3} more" if len(items) > 3 else "")
