"""The part of a message shown for a search match, and where the matches are in it.

Computed here rather than by the database so that both databases give the same
snippet, and as plain text with offsets rather than markup: a message holding HTML
is shown as the text it is, and a client marks the words itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

BEFORE = 60  # characters of context before the first match
LENGTH = 200  # the snippet's length at most, ellipses aside
ELLIPSIS = "…"


def word_pattern(words: Sequence[str]) -> re.Pattern[str]:
    """A word that starts with any of `words` (as the index matches prefixes)."""
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![^\W_])(?:{alternatives})[^\W_]*", re.IGNORECASE)


def snippet(text: str, pattern: re.Pattern[str]) -> tuple[str, list[tuple[int, int]]]:
    """About LENGTH characters of `text` around its first match, cut at spaces where
    it can be, and the [start, end) offsets of every match inside it."""
    first = pattern.search(text)
    start = _cut_start(text, first.start() if first else 0)
    end = _cut_end(text, start + LENGTH)
    piece = " ".join(text[start:end].split())  # line breaks and runs of spaces: one space
    prefix = ELLIPSIS if start > 0 else ""
    shown = prefix + piece + (ELLIPSIS if end < len(text) else "")
    offset = len(prefix)
    marks = [(m.start() + offset, m.end() + offset) for m in pattern.finditer(piece)]
    return shown, marks


def _cut_start(text: str, match_at: int) -> int:
    """Where the snippet starts: BEFORE characters ahead of the match, at a space."""
    if match_at <= BEFORE:
        return 0
    space = text.find(" ", match_at - BEFORE, match_at)
    return space + 1 if space >= 0 else match_at - BEFORE


def _cut_end(text: str, limit: int) -> int:
    """Where the snippet ends: at `limit`, or the last space before it."""
    if limit >= len(text):
        return len(text)
    space = text.rfind(" ", limit - 40, limit)
    return space if space > 0 else limit
