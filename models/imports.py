"""POST /api/sessions/import: what a file brings in, and the report of what went in.

Two formats, told apart by their shape: this service's export (GET
/api/sessions/{id}/export: `{session, messages}`, one or a list) and ChatGPT's data
export (`conversations.json`: a list of `{title, create_time, mapping, current_node}`,
whose `mapping` is the conversation's tree). Both may also come wrapped as
`{"conversations": [...]}`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.message import EXPORT_EXAMPLE
from models.session import SESSION_EXAMPLE

ImportStatus = Literal["imported", "duplicate", "invalid"]
CHATGPT_EXAMPLE: dict[str, Any] = {
    "id": "6750a1b2-0000-8000-9000-000000000001",
    "title": "Trip to Busan",
    "create_time": 1733050000.0,
    "current_node": "b",
    "mapping": {
        "root": {"id": "root", "message": None, "parent": None, "children": ["a"]},
        "a": {
            "id": "a",
            "parent": "root",
            "children": ["b"],
            "message": {
                "id": "a",
                "author": {"role": "user"},
                "create_time": 1733050001.0,
                "content": {"content_type": "text", "parts": ["How do I get to Busan?"]},
            },
        },
        "b": {
            "id": "b",
            "parent": "a",
            "children": [],
            "message": {
                "id": "b",
                "author": {"role": "assistant"},
                "create_time": 1733050005.0,
                "content": {"content_type": "text", "parts": ["The KTX takes 2.5 hours."]},
            },
        },
    },
}
IMPORT_EXAMPLES: dict[str, Any] = {
    "chatgpt": {
        "summary": "ChatGPT's conversations.json, as exported",
        "value": [CHATGPT_EXAMPLE],
    },
    "export": {
        "summary": "This service's export of a session",
        "value": EXPORT_EXAMPLE,
    },
}


class ImportedItem(BaseModel):
    """What became of one conversation of the file."""

    index: int = Field(..., description="Its place in the file (0-based)")
    source: Literal["export", "chatgpt", "unknown"]
    source_id: str | None = Field(None, description="Its id in the file, when it has one")
    title: str | None = None
    status: ImportStatus = Field(
        ...,
        description="`imported`: a new session; `duplicate`: imported before (the same"
        " conversation, unchanged), `session_id` names that session; `invalid`: left"
        " out, `error` says why (nothing of it was stored)",
    )
    session_id: str | None = None
    messages: int = Field(0, description="Messages stored (or already there)")
    error: str | None = Field(None, description="Why an invalid conversation was left out")


class ImportReport(BaseModel):
    """Every conversation of the file, in order, and the totals."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "imported": 1,
                    "duplicates": 0,
                    "invalid": 1,
                    "items": [
                        {
                            "index": 0,
                            "source": "chatgpt",
                            "source_id": CHATGPT_EXAMPLE["id"],
                            "title": "Trip to Busan",
                            "status": "imported",
                            "session_id": SESSION_EXAMPLE["session_id"],
                            "messages": 2,
                            "error": None,
                        },
                        {
                            "index": 1,
                            "source": "chatgpt",
                            "source_id": "6750a1b2-0000-8000-9000-000000000002",
                            "title": "Broken",
                            "status": "invalid",
                            "session_id": None,
                            "messages": 0,
                            "error": "node 'x': parent 'y' is not in the mapping",
                        },
                    ],
                }
            ]
        }
    )

    imported: int
    duplicates: int
    invalid: int
    items: list[ImportedItem]
