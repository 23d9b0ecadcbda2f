"""Tool calls in a streamed reply: read from OpenAI's deltas, assembled whole.

OpenAI-compatible servers stream a call as pieces under `delta.tool_calls`, keyed by
`index`: the first piece names the call (`id`, `function.name`), the next ones carry
fragments of `function.arguments`, and parallel calls interleave. Servers differ
(llama.cpp sends a call whole in one chunk, some omit `index` or `id`), so a
missing index is the piece's place in its list and a missing id is made up: the
client needs one to send a result back.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from models.text import storable
from services.llm.base import ToolCallDelta
from services.llm.errors import LLMBadReply

MAX_TOOL_CALLS = 128


def tool_call_deltas(pieces: Any) -> tuple[ToolCallDelta, ...]:
    """The pieces of one chunk's `delta.tool_calls`; () when it has none."""
    if not pieces:
        return ()
    if not isinstance(pieces, list):
        raise LLMBadReply("LLM stream chunk's tool_calls is not a list")
    return tuple(_delta(place, piece) for place, piece in enumerate(pieces))


def _delta(place: int, piece: Any) -> ToolCallDelta:
    if not isinstance(piece, dict):
        raise LLMBadReply("LLM stream chunk has a tool call that is not an object")
    named = piece.get("function")
    function: dict[str, Any] = named if isinstance(named, dict) else {}
    index, call_id = piece.get("index", place), piece.get("id")
    name, arguments = function.get("name"), function.get("arguments")
    if isinstance(arguments, (dict, list)):  # a few servers send the object itself
        arguments = json.dumps(arguments, ensure_ascii=False)
    return ToolCallDelta(
        index=index if isinstance(index, int) else place,
        id=call_id if isinstance(call_id, str) and call_id else None,
        name=name if isinstance(name, str) and name else None,
        arguments=storable(arguments) if isinstance(arguments, str) else "",
    )


@dataclass
class _Call:
    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class ToolCallAssembler:
    """Gathers a reply's call pieces; `calls()` gives them whole, in index order."""

    _calls: dict[int, _Call] = field(default_factory=dict)

    def add(self, deltas: tuple[ToolCallDelta, ...]) -> None:
        for delta in deltas:
            call = self._calls.get(delta.index)
            if call is None:
                if len(self._calls) >= MAX_TOOL_CALLS:
                    raise LLMBadReply(f"LLM reply made more than {MAX_TOOL_CALLS} tool calls")
                call = self._calls[delta.index] = _Call()
            call.id = call.id or delta.id
            call.name = call.name or (delta.name or "")
            if delta.arguments:
                call.arguments.append(delta.arguments)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def calls(self) -> list[dict[str, Any]]:
        """The calls as stored and sent on: {id, type, function: {name, arguments}}."""
        for call in self._calls.values():
            call.id = call.id or f"call_{uuid.uuid4().hex[:24]}"
        return [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": "".join(call.arguments)},
            }
            for _, call in sorted(self._calls.items())
        ]
