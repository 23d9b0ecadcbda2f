"""A turn's token counts: the LLM server's when it reports them, else ours; and the
reply's own count, kept with it for the windows of later turns."""

from __future__ import annotations

from models.message import TokenUsage
from services.llm import Usage
from services.memory.counting import ESTIMATE_KEY, Count, Counter
from services.memory.window import estimate_tokens

TOKEN_CHUNK_CHARS = 8  # chunks this short on average are taken as one token each


def turn_usage(prompt_tokens: int, parts: list[str], reported: Usage | None) -> TokenUsage:
    """The server's counts when given, else ours, marked `estimated`.

    Ours: the context plan's count of the prompt; for the reply, the number of chunks
    when they look like single tokens (llama.cpp sends one per token and reports no
    usage in streams), else the text's estimate.
    """
    if reported is not None:
        prompt, completion, estimated = (
            reported.prompt_tokens,
            reported.completion_tokens,
            False,
        )
    else:
        prompt, completion, estimated = prompt_tokens, _completion_estimate(parts), True
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        estimated=estimated,
    )


def reply_count(counter: Counter, parts: list[str], reported: Usage | None) -> Count | None:
    """The reply's content in the counter's tokens, when known without asking: the
    tokens the server reports it generated, or the estimate when that is the counter.
    None: the server's tokenizer must count the text (chunks are not tokens: a
    llama.cpp stream sends 7 chunks for 18 tokens of Korean, holding back partial
    characters)."""
    if counter.kind == "estimate":
        return Count(estimate_tokens("".join(parts)), ESTIMATE_KEY)
    if reported is not None:
        return Count(reported.completion_tokens, counter.key)
    return None


def _chunks_are_tokens(parts: list[str]) -> bool:
    return bool(parts) and sum(map(len, parts)) <= TOKEN_CHUNK_CHARS * len(parts)


def _completion_estimate(parts: list[str]) -> int:
    if _chunks_are_tokens(parts):
        return len(parts)
    return estimate_tokens("".join(parts))
