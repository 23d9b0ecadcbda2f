"""A turn's window, fitted in counted tokens, and its context plan.

Order: the system prompt (always kept), the path's summary with summary memory (kept
unless it leaves no room for the new message), then the newest history that fits,
then the new user message (always sent). The budget is the model's context less the reply's
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
from services.memory.summary_text import with_summary
from services.memory.tool_pairs import Unit, pinned_reply, tool_units
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
class Recall:
    """What summary memory adds to a window: the summary valid for the path (as a
    ChatMessage whose id is the summary's and whose content is summary_part()'s), and
    the sendable history between it and the candidates, newest first."""

    summary: ChatMessage | None = None
    older: Sequence[ChatMessage] = ()


@dataclass(frozen=True, slots=True)
class Fitted:
    """The messages to send, and the plan that says what they are."""

    messages: list[ChatMessage]
    plan: Plan


def message_cost(counter: Counter, message: ChatMessage) -> int:
    """A message's tokens in a prompt: its content's count, plus the framing (once
    per wire message: a `tool` message is one per result)."""
    return _content(counter, message) + counter.framing.message(message.role) * message.wire_count


def fit_window(
    counter: Counter,
    budget: Budget,
    system: ChatMessage | None,
    history_newest_first: Sequence[ChatMessage],
    user: ChatMessage,
    memory: Recall | None = None,
) -> Fitted:
    """The window of one turn (history already cut to MAX_CONTEXT_MESSAGES), planned.
    With summary memory, `memory` holds the path's summary (sent after the system
    prompt, dropped only when it leaves no room for the new message) and the
    history older than the candidates, which is counted as left out. A new `tool`
    message is sent with the reply whose calls it answers; older history goes in
    units that never separate a call from its result (services/memory/tool_pairs.py)."""
    memory = memory or Recall()
    summary = memory.summary
    pinned = pinned_reply(history_newest_first, user)
    new = [*history_newest_first[:pinned], user]
    fixed = _fixed_parts(counter, system, summary, new)
    room = budget.prompt_room(counter, system is not None or summary is not None)
    if summary is not None and sum(p[3] for p in fixed) > room:
        summary = None  # the new message comes first
        fixed = _fixed_parts(counter, system, None, new)
        room = budget.prompt_room(counter, system is not None)
    units = tool_units(history_newest_first[pinned:])
    kept = _newest_units(counter, units, room - sum(p[3] for p in fixed))
    sent = {id(message) for message, _ in kept}
    dropped = [m for unit in units for m in unit if id(m) not in sent]
    dropped.extend(memory.older)
    parts = [*fixed[: -len(new)], *(part for _, part in reversed(kept)), *fixed[-len(new) :]]
    framing = counter.framing.once(system is not None or summary is not None)
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
        summary_id=summary.message_id if summary is not None else None,
    )
    head = [with_summary(system, summary)] if summary is not None else [system] if system else []
    return Fitted([*head, *(message for message, _ in reversed(kept)), *new], plan)


def _newest_units(counter: Counter, units: list[Unit], room: int) -> list[tuple[ChatMessage, Part]]:
    """The newest units that fit `room`, newest message first; the first that does
    not fit ends the history (kept contiguous)."""
    kept: list[tuple[ChatMessage, Part]] = []
    for unit in units:
        parts = [_part(counter, message, "message") for message in unit]
        if sum(part[3] for part in parts) > room:
            break
        room -= sum(part[3] for part in parts)
        kept.extend(reversed(list(zip(unit, parts, strict=True))))
    return kept


def _fixed_parts(
    counter: Counter,
    system: ChatMessage | None,
    summary: ChatMessage | None,
    new: list[ChatMessage],
) -> list[Part]:
    """The parts always sent: the system prompt, the summary, the new message (with
    the reply it answers, for a `tool` message)."""
    parts = [_part(counter, system, "system")] if system is not None else []
    if summary is not None:
        # It joins the system message (services/memory/summary_text.py): framed only
        # when it is that message alone.
        framing = counter.framing.message("system") if system is None else 0
        tokens = _content(counter, summary) + framing
        parts.append(("summary", summary.message_id, "system", tokens))
    return [*parts, *(_part(counter, message, "message") for message in new)]


def _content(counter: Counter, message: ChatMessage) -> int:
    if message.tokens is not None and message.counted_by == counter.key:
        return message.tokens
    return estimate_tokens(message.countable)


def _part(counter: Counter, message: ChatMessage, kind: str) -> Part:
    return (kind, message.message_id, message.role, message_cost(counter, message))
