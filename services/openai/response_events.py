"""A reply's turn events as OpenAI's typed Responses stream events.

Sequence numbers follow from the turn's event ids, so that a stream resumed from any
instance (`GET /v1/responses/{id}?stream=true&starting_after=N`) numbers its events
as the first one did: the start (event 1) is 0-3 (`response.created`,
`response.in_progress`, `response.output_item.added`, `response.content_part.added`),
delta n is n + 2 (`response.output_text.delta`), a tool call (event C) is C + 2
(`response.output_item.added`, a `function_call` item at output index 1, 2...),
and the end (event T) is T + 2 onwards: each call's arguments (delta and done) and
item done, the text, part and message item done, then `response.completed`,
`.incomplete`, `.cancelled` or `.failed`, as stored. The end's events are built
from the stored reply, so a resumed stream ends with the whole text too.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from models.openai_responses import OutputMessage, ResponseError, ResponseObject
from models.openai_tool_items import FunctionCallItem
from services.errors import ServiceError
from services.openai.response_shapes import (
    Asked,
    call_item,
    item_id,
    output_item,
    response_of,
    skeleton,
)
from services.turns.events import TurnEvent
from services.turns.replay import StoredReply

FIRST_DELTA_SEQUENCE = 4
ENDINGS = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "cancelled": "response.cancelled",
    "failed": "response.failed",
}


def turn_event_after(starting_after: int) -> int:
    """The turn event id to replay after, for a client that has `starting_after`."""
    return 0 if starting_after < FIRST_DELTA_SEQUENCE else starting_after - 2


@dataclass
class ResponseEvents:
    """One response's stream; `stored` reads the reply once it has ended."""

    session_id: str
    asked: Asked
    stored: Callable[[str], Awaitable[StoredReply]]
    starting_after: int = -1
    message_id: str = ""

    async def events(self, turn: AsyncIterator[TurnEvent]) -> AsyncGenerator[dict[str, Any], None]:
        """The stream's events past `starting_after`; closing it closes `turn`."""
        try:
            async for event in turn:
                for sequence, payload in await self._of(event):
                    if sequence > self.starting_after:
                        yield {"type": payload.pop("type"), "sequence_number": sequence} | payload
        finally:
            if (close := getattr(turn, "aclose", None)) is not None:
                await close()

    async def _of(self, event: TurnEvent) -> list[tuple[int, dict[str, Any]]]:
        if event.type == "start":
            self.message_id = event.data["message_id"]
            return list(enumerate(self._opening()))
        if event.type == "delta":
            return [(event.id + 2, self._delta(event.data["content"]))]
        if event.type == "tool_call":
            index, call = event.data["index"], event.data["tool_call"]
            item = call_item(self.message_id, index, call, "in_progress").model_dump()
            added = {"type": "response.output_item.added", "output_index": index + 1}
            return [(event.id + 2, added | {"item": item})]
        if event.is_terminal:
            ending = self._ending(await self._final(event))
            return [(event.id + 2 + n, payload) for n, payload in enumerate(ending)]
        return []

    async def _final(self, event: TurnEvent) -> ResponseObject:
        """The response as stored at its end; `failed` with the event's error when
        its end could not be read or is not stored yet (the database refused it:
        the service stores it later)."""
        try:
            reply = await self.stored(self.message_id)
        except ServiceError:
            reply = None
        if reply is not None and reply.ended:
            return response_of(reply, self.asked)
        failure = ResponseError(
            code=event.data.get("code", "internal_error"),
            message=event.data.get("message", "the reply's end could not be read"),
        )
        unread = skeleton(self.message_id, self.session_id, self.asked)
        return unread.model_copy(update={"status": "failed", "error": failure})

    def _opening(self) -> list[dict[str, Any]]:
        response = skeleton(self.message_id, self.session_id, self.asked).model_dump()
        item = output_item(self.message_id, "", "in_progress").model_dump()
        return [
            {"type": "response.created", "response": response},
            {"type": "response.in_progress", "response": response},
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            self._part("response.content_part.added", ""),
        ]

    def _delta(self, text: str) -> dict[str, Any]:
        return self._at_text("response.output_text.delta") | {"delta": text, "logprobs": []}

    def _ending(self, response: ResponseObject) -> list[dict[str, Any]]:
        message = response.output[0] if response.output else None
        parts = message.content if isinstance(message, OutputMessage) else []
        text = parts[0].text if parts else ""
        item = output_item(self.message_id, text, response.status).model_dump()
        calls = [i for i in response.output if isinstance(i, FunctionCallItem)]
        return [
            *(event for index, call in enumerate(calls, 1) for event in _call_done(index, call)),
            self._at_text("response.output_text.done") | {"text": text, "logprobs": []},
            self._part("response.content_part.done", text),
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": ENDINGS[response.status], "response": response.model_dump()},
        ]

    def _part(self, kind: str, text: str) -> dict[str, Any]:
        part = {"type": "output_text", "text": text, "annotations": []}
        return self._at_text(kind) | {"part": part}

    def _at_text(self, kind: str) -> dict[str, Any]:
        return {
            "type": kind,
            "item_id": item_id(self.message_id),
            "output_index": 0,
            "content_index": 0,
        }


def _call_done(output_index: int, call: FunctionCallItem) -> list[dict[str, Any]]:
    """A call's arguments (whole, as one delta) and its item done."""
    at = {"item_id": call.id, "output_index": output_index}
    return [
        {"type": "response.function_call_arguments.delta", "delta": call.arguments} | at,
        {"type": "response.function_call_arguments.done", "arguments": call.arguments} | at,
        {
            "type": "response.output_item.done",
            "output_index": output_index,
            "item": call.model_dump(),
        },
    ]
