"""A turn's window, fitted in counted tokens, and its context plan.

Order: the system prompt (always kept), then the newest history that fits, then the
new user message (always sent). The budget is the model's context less the reply's
room and the template's framing once per prompt, capped by MAX_CONTEXT_TOKENS when
set; each message costs its content's tokens plus the template's framing per
message, by role (services/memory/counting.py). History is kept contiguous: the first older
message that does not fit ends the window, and it and the candidates older than it
are the plan's `left_out`.

A message's stored count is used when the counter in use made it; otherwise (an
older message, another model) its content is estimated, which errs high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.memory.counting import Counter
from services.memory.window import ChatMessage, estimate_tokens


@dataclass(frozen=True, slots=True)
class Budget:
    """What a turn's window must fit: the model's context, the reply's room, a cap."""

    context_tokens: int
    reply_tokens: int
    cap_tokens: int = 0  # MAX_CONTEXT_TOKENS; 0: none

    def prompt_room(self, counter: Counter, has_system: bool) -> int:
        """Tokens the prompt's messages may take, template framing aside."""
        room = self.context_tokens - self.reply_tokens - counter.framing.once(has_system)
        return min(room, self.cap_tokens) if self.cap_tokens else room


# One part of a prompt, in the stored form: (kind, message id or None, role, tokens).
Part = tuple[str, str | None, str, int]


@dataclass(frozen=True, slots=True)
class Plan:
    """A turn's context plan as the turn makes it: plain values, built in the turn's
    first transaction (a pydantic model there cost more than the fitting itself).
    The API's shape is models/context.py's ContextPlan, read from `to_stored()`."""

    counter: str
    model: str | None
    context_tokens: int
    budget_tokens: int
    reply_room_tokens: int
    framing_tokens: int
    prompt_tokens: int
    parts: list[Part]
    left_out: tuple[int, int]  # messages, tokens
    summary_id: str | None = None

    def to_stored(self) -> dict[str, Any]:
        """The compact form kept in messages.context_plan."""
        return {
            "counter": self.counter,
            "model": self.model,
            "context_tokens": self.context_tokens,
            "budget_tokens": self.budget_tokens,
            "reply_room_tokens": self.reply_room_tokens,
            "framing_tokens": self.framing_tokens,
            "prompt_tokens": self.prompt_tokens,
            "parts": self.parts,
            "left_out": list(self.left_out),
            "summary_id": self.summary_id,
        }


@dataclass(frozen=True, slots=True)
class Fitted:
    """The messages to send, and the plan that says what they are."""

    messages: list[ChatMessage]
    plan: Plan


def message_cost(counter: Counter, message: ChatMessage) -> int:
    """A message's tokens in a prompt: its content's count, plus the framing."""
    if message.tokens is not None and message.counted_by == counter.key:
        content = message.tokens
    else:
        content = estimate_tokens(message.content)
    return content + counter.framing.message(message.role)


def fit_window(
    counter: Counter,
    budget: Budget,
    system: ChatMessage | None,
    history_newest_first: Sequence[ChatMessage],
    user: ChatMessage,
) -> Fitted:
    """The window of one turn (history already cut to MAX_CONTEXT_MESSAGES), planned."""
    head = [system] if system is not None else []
    room = budget.prompt_room(counter, bool(head))
    head_parts = [_part(counter, m, "system") for m in head]
    user_part = _part(counter, user, "message")
    left = room - sum(p[3] for p in head_parts) - user_part[3]
    kept: list[tuple[ChatMessage, Part]] = []
    for message in history_newest_first:
        part = _part(counter, message, "message")
        if part[3] > left:
            break
        left -= part[3]
        kept.append((message, part))
    dropped = history_newest_first[len(kept) :]
    parts = [*head_parts, *(part for _, part in reversed(kept)), user_part]
    framing = counter.framing.once(bool(head))
    plan = Plan(
        counter=counter.kind,
        model=counter.model,
        context_tokens=budget.context_tokens,
        budget_tokens=room,
        reply_room_tokens=budget.reply_tokens,
        framing_tokens=framing,
        prompt_tokens=framing + sum(p[3] for p in parts),
        parts=parts,
        left_out=(len(dropped), sum(message_cost(counter, m) for m in dropped)),
    )
    messages = [*head, *(message for message, _ in reversed(kept)), user]
    return Fitted(messages, plan)


def _part(counter: Counter, message: ChatMessage, kind: str) -> Part:
    return (kind, message.message_id, message.role, message_cost(counter, message))
