"""A turn's token counts: the LLM server's when it reports them, else our estimate."""

from __future__ import annotations

from models.message import TokenUsage
from services.llm import Usage
from services.memory.window import (
    PROMPT_OVERHEAD_TOKENS,
    ChatMessage,
    estimate_tokens,
    message_tokens,
)

TOKEN_CHUNK_CHARS = 8  # chunks this short on average are taken as one token each


def turn_usage(window: list[ChatMessage], parts: list[str], reported: Usage | None) -> TokenUsage:
    """The server's counts when given, else ours, marked `estimated`.

    Ours: the window's estimate for the prompt; for the reply, the number of
    chunks when they look like single tokens (llama.cpp sends one per token and
    reports no usage in streams), else the text's estimate.
    """
    if reported is not None:
        prompt, completion, estimated = (
            reported.prompt_tokens,
            reported.completion_tokens,
            False,
        )
    else:
        prompt = sum(message_tokens(m) for m in window) + PROMPT_OVERHEAD_TOKENS
        completion, estimated = _completion_estimate(parts), True
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        estimated=estimated,
    )


def _completion_estimate(parts: list[str]) -> int:
    if parts and sum(map(len, parts)) <= TOKEN_CHUNK_CHARS * len(parts):
        return len(parts)
    return estimate_tokens("".join(parts))
