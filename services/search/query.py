"""A search's words, and the SQL conditions that match them on either database.

A query is read as words: letters and digits, everything else a separator, as both
databases' indexes split text. Every word must appear (AND), each as a word or the
start of one ("bus" finds "Busan"), case-insensitively. Nothing of the query's
syntax reaches the database: FTS5 gets each word quoted, PostgreSQL a tsquery built
from word characters only, so no input can make a query fail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    bindparam,
    column,
    func,
    literal_column,
    not_,
    select,
    table,
    union,
)

from models.message import GENERATING, messages_table
from models.search import MAX_QUERY_CHARS, MAX_QUERY_WORDS, TS_CONFIG
from models.session import sessions_table
from services.errors import InvalidSearch

M = messages_table.c
S = sessions_table.c
WORD = re.compile(r"[^\W_]+")
MESSAGE_FTS = table("message_fts", column("rowid"))
SESSION_FTS = table("session_fts", column("rowid"))
# What the indexes hold: no reply while it is being generated (migration 0014).
INDEXED: ColumnElement[bool] = not_(GENERATING)


def words_of(query: str) -> list[str]:
    """The query's words, lower-cased; InvalidSearch when it has none or too many."""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidSearch(f"q must be at most {MAX_QUERY_CHARS} characters")
    words = list(dict.fromkeys(word.lower() for word in WORD.findall(query)))
    if not words:
        raise InvalidSearch("q has no words to search for (letters or digits)")
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidSearch(f"q may hold at most {MAX_QUERY_WORDS} words")
    return words


def fts5_query(words: Sequence[str]) -> str:
    """SQLite FTS5: every word, each a quoted prefix."""
    return " AND ".join(f'"{word}"*' for word in words)


def ts_query(words: Sequence[str]) -> str:
    """PostgreSQL to_tsquery: every word, each a prefix."""
    return " & ".join(f"{word}:*" for word in words)


class Matcher:
    """The conditions that find `words` in messages and titles, on one dialect."""

    def __init__(self, dialect: str, words: Sequence[str]) -> None:
        self.sqlite = dialect == "sqlite"
        self.query = fts5_query(words) if self.sqlite else ts_query(words)

    def message_matches(self) -> ColumnElement[bool]:
        """The row of `messages` holds every word (and is not being generated)."""
        if self.sqlite:
            matching = select(MESSAGE_FTS.c.rowid).where(_fts_match("message_fts", self.query))
            return literal_column("messages.rowid").in_(matching.scalar_subquery())
        return _ts_match("messages.content", self.query) & INDEXED

    def title_matches(self) -> ColumnElement[bool]:
        """The row of `sessions` has a title holding every word."""
        if self.sqlite:
            matching = select(SESSION_FTS.c.rowid).where(_fts_match("session_fts", self.query))
            return literal_column("sessions.rowid").in_(matching.scalar_subquery())
        return _ts_match("sessions.title", self.query) & S.title.is_not(None)

    def matching_sessions(self) -> CompoundSelect[Any]:
        """The ids of sessions whose title or one of whose messages matches: one set,
        each half found through its index. (An OR of the two conditions on the session
        list would be read row by row: PostgreSQL then computes every title's vector.)"""
        by_title = select(S.session_id).where(self.title_matches())
        by_message = select(M.session_id).where(self.message_matches())
        return union(by_title, by_message)


def _fts_match(fts_table: str, query: str) -> ColumnElement[bool]:
    return literal_column(fts_table).op("MATCH")(bindparam("fts_q", query, unique=True))


def _ts_match(document: str, query: str) -> ColumnElement[bool]:
    config: ColumnElement[str] = literal_column(f"'{TS_CONFIG}'")
    vector = func.to_tsvector(config, literal_column(document))
    return vector.op("@@")(func.to_tsquery(config, bindparam("ts_q", query, unique=True)))
