"""The context window: which stored messages are sent to the LLM with a new turn.

Order: the system prompt (the session's, else DEFAULT_SYSTEM_PROMPT), then the
newest history that fits both MAX_CONTEXT_MESSAGES (counting the new user message)
and MAX_CONTEXT_TOKENS (0 = no cap), then the new user message, which is always
sent. History is kept contiguous: the first older message that does not fit ends
the window. Failed, streaming and empty assistant messages are filtered out by the
query that reads the candidates (services/turn_store.py), so they never get here.

Token counts are estimates (UTF-8 bytes / 4, rounded up, plus 4 per message for the
chat template), which errs high for English and close for Korean; servers count
exactly, this only keeps the window bounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MESSAGE_OVERHEAD_TOKENS = 4


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


def estimate_tokens(text: str) -> int:
    """A cheap, tokenizer-free estimate of the tokens `text` costs."""
    return math.ceil(len(text.encode("utf-8")) / 4)


def message_tokens(message: ChatMessage) -> int:
    return estimate_tokens(message.content) + MESSAGE_OVERHEAD_TOKENS


def build_context_window(
    system_prompt: str | None,
    history_newest_first: Sequence[ChatMessage],
    user_message: str,
    max_tokens: int,
) -> list[ChatMessage]:
    """Assemble the messages for one turn; history is already cut to the message cap."""
    head = [ChatMessage("system", system_prompt)] if system_prompt else []
    user = ChatMessage("user", user_message)
    budget = max_tokens - sum(message_tokens(m) for m in [*head, user]) if max_tokens else None
    kept: list[ChatMessage] = []
    for message in history_newest_first:
        if budget is not None:
            budget -= message_tokens(message)
            if budget < 0:
                break
        kept.append(message)
    return [*head, *reversed(kept), user]
