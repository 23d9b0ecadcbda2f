"""Full-text search: the index's names and the shapes of GET /api/search.

The indexes live beside the tables (migration 0014): SQLite's FTS5 tables
`message_fts` and `session_fts` (external content, kept by triggers), PostgreSQL's
GIN indexes over `to_tsvector('simple', ...)`. None of them is a SQLModel table: the
schema check (tests/test_storage.py) leaves out the names below.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.message import Role

# FTS5 tables and the shadow tables SQLite keeps for each.
FTS_TABLES = ("message_fts", "session_fts")
FTS_SHADOWS = ("data", "idx", "docsize", "config", "content")
SEARCH_TABLE_NAMES = frozenset(
    {
        *FTS_TABLES,
        *(f"{table}_{shadow}" for table in FTS_TABLES for shadow in FTS_SHADOWS),
        "search_backlog",  # SQLite: messages waiting to be indexed
    }
)
# The text-search configuration both databases' indexes and queries name.
TS_CONFIG = "simple"
MAX_QUERY_CHARS = 500
MAX_QUERY_WORDS = 12

SEARCH_HIT_EXAMPLE: dict[str, Any] = {
    "message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
    "session_title": "Planning a trip to Busan",
    "role": "assistant",
    "created_at": "2026-11-21T10:05:00Z",
    "snippet": "…the ferry to Busan leaves at nine; book the night before…",
    "highlights": [[16, 21]],
}


class SearchHit(BaseModel):
    """One message that matches, with where in its text."""

    message_id: str
    session_id: str
    session_title: str | None = Field(None, description="Its session's title, if it has one")
    role: Role
    created_at: datetime
    snippet: str = Field(
        ...,
        description="The part of the message around its first match (at most about 200"
        " characters; `…` where it was cut). Plain text: show it as text",
    )
    highlights: list[tuple[int, int]] = Field(
        ...,
        description="[start, end) character offsets in `snippet` of each matching word:"
        " wrap them in <mark> when showing it",
    )


class SearchPage(BaseModel):
    """One page of search results, newest message first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [SEARCH_HIT_EXAMPLE],
                    "next_cursor": "WyIyMDI2LTExLTIxVDEwOjA1OjAwKzAwOjAwIiwgIjljMWQuLi4iXQ",
                }
            ]
        }
    )

    items: list[SearchHit]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page"
    )
