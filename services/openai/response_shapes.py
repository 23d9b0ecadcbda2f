"""A stored reply as an OpenAI `response` object, and the items around it.

The response's status is the reply's: `streaming` is `in_progress`; `complete` is
`completed`, or `incomplete` (`max_output_tokens`) when the reply hit its length
cap; `cancelled` (a stop) is `cancelled`; `failed` and `interrupted` (the service
stopped mid-reply) are `failed`, with the stored error code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from models.message import MessageStatus
from models.openai_items import AnyItem, Item, ItemList
from models.openai_responses import (
    ITEM_PREFIX,
    RESPONSE_PREFIX,
    ConversationRef,
    OutputMessage,
    OutputText,
    ResponseError,
    ResponseObject,
    ResponseUsage,
)
from models.openai_tool_items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionChoice,
    FunctionTool,
    ItemStatus,
    ResponseToolChoice,
    call_item_id,
)
from services.turns.replay import StoredReply

ITEM_STATUSES = {"complete": "completed", "streaming": "in_progress"}
STATUSES = {
    MessageStatus.STREAMING: "in_progress",
    MessageStatus.COMPLETE: "completed",
    MessageStatus.CANCELLED: "cancelled",
    MessageStatus.FAILED: "failed",
    MessageStatus.INTERRUPTED: "failed",
}


@dataclass(frozen=True)
class Asked:
    """What the request said that the stored reply does not keep (echoed back)."""

    model: str | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    background: bool = False
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    tools: list[FunctionTool] = field(default_factory=list)
    tool_choice: ResponseToolChoice = "auto"
    truncation: str = "auto"
    store: bool = True

    def to_stored(self) -> dict[str, Any]:
        """As kept with the reply (messages.echo), so a retrieve echoes it too."""
        stored = asdict(self)
        stored["tools"] = [tool.model_dump(exclude_none=True) for tool in self.tools]
        choice = self.tool_choice
        stored["tool_choice"] = choice if isinstance(choice, str) else choice.model_dump()
        return stored

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Asked:
        tools = [FunctionTool.model_validate(tool) for tool in stored.get("tools", [])]
        choice = stored.get("tool_choice", "auto")
        named = FunctionChoice.model_validate(choice) if isinstance(choice, dict) else choice
        known = {name: stored[name] for name in stored if name in cls.__dataclass_fields__}
        return cls(**known | {"tools": tools, "tool_choice": named})


def response_id(message_id: str) -> str:
    return RESPONSE_PREFIX + message_id


def item_id(message_id: str) -> str:
    return ITEM_PREFIX + message_id


def status_of(reply: StoredReply) -> str:
    if reply.status == MessageStatus.COMPLETE and reply.finish_reason == "length":
        return "incomplete"
    return STATUSES[reply.status]


def output_item(message_id: str, text: str, status: str) -> OutputMessage:
    item_status = status if status in ("in_progress", "incomplete") else "completed"
    content = [OutputText(text=text)] if status != "in_progress" or text else []
    return OutputMessage(id=item_id(message_id), status=item_status, content=content)


def response_of(reply: StoredReply, asked: Asked) -> ResponseObject:
    status = status_of(reply)
    return skeleton(
        reply.message_id, reply.session_id, asked, reply.created_at.timestamp()
    ).model_copy(
        update={
            "status": status,
            "model": reply.model or asked.model or "",
            "output": [
                output_item(reply.message_id, reply.content, status),
                *call_items(reply.message_id, reply.tool_calls or []),
            ],
            "usage": usage_of(reply.token_usage),
            "error": _error_of(reply),
            "incomplete_details": {"reason": "max_output_tokens"}
            if status == "incomplete"
            else None,
        }
    )


def skeleton(
    message_id: str, session_id: str, asked: Asked, created_at: float | None = None
) -> ResponseObject:
    """The response before its reply has any text: `in_progress`, no output yet."""
    return ResponseObject(
        id=response_id(message_id),
        created_at=int(created_at if created_at is not None else time.time()),
        status="in_progress",
        model=asked.model or "",
        output=[],
        instructions=asked.instructions,
        previous_response_id=asked.previous_response_id,
        conversation=ConversationRef(id=session_id),
        metadata=asked.metadata,
        background=asked.background,
        temperature=asked.temperature,
        top_p=asked.top_p,
        max_output_tokens=asked.max_output_tokens,
        tools=asked.tools,
        tool_choice=asked.tool_choice,
        truncation=asked.truncation,
        store=asked.store,
    )


def call_items(
    message_id: str, calls: list[dict[str, Any]], status: ItemStatus = "completed"
) -> list[FunctionCallItem]:
    """A reply's calls as `function_call` output items."""
    return [call_item(message_id, index, call, status) for index, call in enumerate(calls)]


def call_item(
    message_id: str, index: int, call: dict[str, Any], status: ItemStatus = "completed"
) -> FunctionCallItem:
    function = call["function"]
    arguments = function["arguments"] if status == "completed" else ""
    return FunctionCallItem(
        type="function_call",
        id=call_item_id(message_id, index),
        call_id=call["id"],
        name=function["name"],
        arguments=arguments,
        status=status,
    )


def output_items(message_id: str, results: list[dict[str, Any]]) -> list[FunctionCallOutputItem]:
    """A `tool` message's results as `function_call_output` items."""
    return [
        FunctionCallOutputItem(
            type="function_call_output",
            id=call_item_id(message_id, index),
            call_id=result["tool_call_id"],
            output=result["content"],
            status="completed",
        )
        for index, result in enumerate(results)
    ]


def usage_of(token_usage: dict[str, Any] | None) -> ResponseUsage | None:
    if not token_usage:
        return None
    return ResponseUsage(
        input_tokens=token_usage["prompt_tokens"],
        output_tokens=token_usage["completion_tokens"],
        total_tokens=token_usage["total_tokens"],
    )


def item_of(message_id: str, role: str, text: str, status: str = "complete") -> Item:
    """A stored message as an item: `completed`, `in_progress` while it is generated,
    `incomplete` when it was stopped or failed."""
    kind = "output_text" if role == "assistant" else "input_text"
    return Item(
        id=item_id(message_id),
        role=role,
        status=ITEM_STATUSES.get(status, "incomplete"),
        content=[{"type": kind, "text": text}],
    )


def stored_items(message_id: str, message: Any, status: str = "complete") -> list[AnyItem]:
    """A stored message as the items it is: a `tool` message's outputs; a reply's
    message (unless it is calls alone), then its calls; else one message item."""
    if message.tool_results is not None:
        return list(output_items(message_id, message.tool_results))
    items: list[AnyItem] = []
    if message.content or not message.tool_calls:
        items.append(item_of(message_id, message.role, message.content, status))
    return items + list(call_items(message_id, message.tool_calls or []))


def item_page(items: Sequence[AnyItem], has_more: bool) -> ItemList:
    first, last = (items[0].id, items[-1].id) if items else (None, None)
    return ItemList(data=list(items), first_id=first, last_id=last, has_more=has_more)


def _error_of(reply: StoredReply) -> ResponseError | None:
    failure = reply.failure()
    return None if failure is None else ResponseError(code=failure[0], message=failure[1])
