"""A window never separates a tool call from its result: both are sent, or neither.

On a path, a reply that made tool calls is followed by the `tool` message holding
their results (the API checks that every call has one). Read newest first, the
history is cut into units: a `tool` message with the reply above it is one unit,
kept or dropped whole. A reply whose calls were never answered (the client went on
with a new message instead) is sent as its text alone, or not at all when it had
none: an upstream refuses calls without results. A `tool` message whose reply is
not in the candidates (cut by the message cap or a summary) is left out with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from services.memory.window import ChatMessage, message_tokens

Unit = tuple[ChatMessage, ...]  # oldest first


def answers(results: ChatMessage, reply: ChatMessage) -> bool:
    """Whether `results` is the `tool` message of `reply`'s calls."""
    return results.role == "tool" and bool(reply.tool_calls)


def pinned_reply(history_newest_first: Sequence[ChatMessage], new: ChatMessage) -> int:
    """How many of the newest candidates go with the new message: 1 when it is a
    `tool` message (the reply whose calls it answers is always sent with it)."""
    if history_newest_first and answers(new, history_newest_first[0]):
        return 1
    return 0


def tool_units(history_newest_first: Sequence[ChatMessage]) -> list[Unit]:
    """The candidates as units, newest first (see the module docstring)."""
    units: list[Unit] = []
    index = 0
    while index < len(history_newest_first):
        message = history_newest_first[index]
        older = history_newest_first[index + 1] if index + 1 < len(history_newest_first) else None
        if message.role == "tool":
            if older is not None and answers(message, older):
                units.append((older, message))
                index += 2
            else:
                index += 1  # its reply is not here: left out
            continue
        index += 1
        if message.tool_calls:  # calls never answered
            message = replace(message, tool_calls=None)
            if not message.content:
                continue
        units.append((message,))
    return units


def halve_history(window: Sequence[ChatMessage]) -> list[ChatMessage]:
    """A sent window whose history (between the system prompt and the new message,
    with the reply it answers) is cut to the newest units within half its tokens:
    the one retry after the server found the prompt over its context."""
    head = list(window[:1]) if window and window[0].role == "system" else []
    tail = 1 + pinned_reply(window[-2::-1], window[-1]) if window else 0
    history = window[len(head) : len(window) - tail]
    budget = sum(message_tokens(m) for m in history) // 2
    kept: list[Unit] = []
    for unit in tool_units(history[::-1]):
        budget -= sum(message_tokens(m) for m in unit)
        if budget < 0:
            break
        kept.append(unit)
    return [*head, *(m for unit in reversed(kept) for m in unit), *window[len(window) - tail :]]
