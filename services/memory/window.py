"""The context window: which stored messages are sent to the LLM with a new turn.

Order: the system prompt (the session's, else DEFAULT_SYSTEM_PROMPT), then the
newest history that fits both MAX_CONTEXT_MESSAGES (counting the new user message)
and the token budget, then the new user message, which is always sent. The budget
is the model's context (LLM_CONTEXT_TOKENS) less the reply's room (max_tokens) and
the template's framing, capped by MAX_CONTEXT_TOKENS when set. History is kept
contiguous: the first older message that does not fit ends the window. Failed,
streaming and empty assistant messages are filtered out by the query that reads
the candidates (services/tree.py), so they never get here.

Token counts are tokenizer-free estimates meant to err high, because an estimate
that errs low overflows the server's context (llama.cpp then answers 400, or an
empty stream). Bytes / 4, the usual rule, is 3-4x low for Korean, digits and
code. Measured against SmolLM2's tokenizer on the design notes (Korean), this
README, Python source and samples (bench/token_estimate.py), this estimate is a
median 1.6x high and low only for base64-like noise:

    ASCII letter runs        one token per 3 letters, rounded up
    a space before a letter  free (it joins the word's token)
    other ASCII characters   one each (digits, punctuation, newlines, spaces)
    non-ASCII                one per UTF-8 byte (Hangul: 3 bytes ~ 2.4 tokens)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MESSAGE_OVERHEAD_TOKENS = 5  # ChatML: <|im_start|> role \n ... <|im_end|> \n
# Framing a template adds once per prompt: the assistant header, and the default
# system prompt some templates (SmolLM2's among them) insert when none is given.
PROMPT_OVERHEAD_TOKENS = 32

_LETTERS_PER_TOKEN = 3
_NON_ASCII_BYTES = bytes(range(128, 256))
_LETTER_RUN = re.compile(rb"[A-Za-z]+")
_SPACE_BEFORE_LETTER = re.compile(rb" (?=[A-Za-z])")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str
    message_id: str | None = None  # a stored message's id (the context plan names it)
    tokens: int | None = None  # its content's stored count, made by `counted_by`
    counted_by: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # a reply's (models/tools.py)
    tool_results: list[dict[str, Any]] | None = None  # a `tool` message's

    def as_dict(self) -> dict[str, Any]:
        """The message on the wire; a `tool` message is as_dicts()'s several."""
        if self.tool_calls:
            return {"role": self.role, "content": self.content, "tool_calls": self.tool_calls}
        return {"role": self.role, "content": self.content}

    def as_dicts(self) -> list[dict[str, Any]]:
        """The wire messages: one, or one per result of a `tool` message."""
        if self.tool_results is not None:
            return [
                {"role": "tool", "tool_call_id": r["tool_call_id"], "content": r["content"]}
                for r in self.tool_results
            ]
        return [self.as_dict()]

    @property
    def countable(self) -> str:
        """What its tokens are counted on: the text, and its calls or results."""
        extra = self.tool_calls or self.tool_results
        return self.content + json.dumps(extra, ensure_ascii=False) if extra else self.content

    @property
    def wire_count(self) -> int:
        """How many messages it is on the wire (each framed by the template)."""
        return len(self.tool_results) if self.tool_results else 1


def wire_messages(window: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    return [wire for message in window for wire in message.as_dicts()]


def estimate_tokens(text: str) -> int:
    """A cheap, tokenizer-free, high-side estimate of the tokens `text` costs."""
    raw = text.encode("utf-8")
    ascii_bytes = raw.translate(None, _NON_ASCII_BYTES)
    runs = _LETTER_RUN.findall(ascii_bytes)
    letters = sum(map(len, runs))
    word_tokens = sum((len(run) + _LETTERS_PER_TOKEN - 1) // _LETTERS_PER_TOKEN for run in runs)
    free_spaces = len(_SPACE_BEFORE_LETTER.findall(ascii_bytes))
    other_ascii = len(ascii_bytes) - letters - free_spaces
    return word_tokens + other_ascii + (len(raw) - len(ascii_bytes))


def message_tokens(message: ChatMessage) -> int:
    return estimate_tokens(message.countable) + MESSAGE_OVERHEAD_TOKENS * message.wire_count
