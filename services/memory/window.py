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

import re
from collections.abc import Sequence
from dataclasses import dataclass

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

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


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
    return estimate_tokens(message.content) + MESSAGE_OVERHEAD_TOKENS


def prompt_room(context_tokens: int, reply_tokens: int) -> int:
    """Estimated prompt tokens that fit the model's context beside the reply's room."""
    return context_tokens - reply_tokens - PROMPT_OVERHEAD_TOKENS


def build_context_window(
    system_prompt: str | None,
    history_newest_first: Sequence[ChatMessage],
    user_message: str,
    budget_tokens: int,
) -> list[ChatMessage]:
    """Assemble the messages for one turn; history is already cut to the message cap."""
    head = [ChatMessage("system", system_prompt)] if system_prompt else []
    user = ChatMessage("user", user_message)
    budget = budget_tokens - sum(message_tokens(m) for m in [*head, user])
    return [*head, *reversed(_newest_within(history_newest_first, budget)), user]


def halve_history(window: Sequence[ChatMessage]) -> list[ChatMessage]:
    """A window whose history (between the system prompt and the new message) is cut
    to the newest messages within half its tokens: the one retry after the server
    found the prompt over its context."""
    head = list(window[:1]) if window and window[0].role == "system" else []
    history = window[len(head) : -1]
    half = sum(message_tokens(m) for m in history) // 2
    return [*head, *reversed(_newest_within(history[::-1], half)), window[-1]]


def _newest_within(history_newest_first: Sequence[ChatMessage], budget: int) -> list[ChatMessage]:
    """The newest messages that fit `budget` tokens, newest first, without gaps."""
    kept: list[ChatMessage] = []
    for message in history_newest_first:
        budget -= message_tokens(message)
        if budget < 0:
            break
        kept.append(message)
    return kept
