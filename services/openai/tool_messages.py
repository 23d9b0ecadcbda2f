"""OpenAI's message list in our stored shapes: calls with their reply, and each run
of `role: tool` messages as one `tool` message holding their results.

A request's list ends with either a user message or the results of the calls of
the assistant message before them; either is the turn's new part. Earlier tool
results must answer the calls of the assistant message above them, one each (as
OpenAI itself requires), because a window pairs them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.openai import OpenAIMessage
from models.openai_responses import InputItem, InputMessage
from models.openai_tool_items import FunctionCallOutputItem
from models.tools import CalledFunction, ToolCall, ToolResult
from services.errors import InvalidToolResults
from services.memory.window import ChatMessage
from services.turns.tool_results import check_one_per_call

SYSTEM_ROLES = ("system", "developer")


def new_part(messages: Sequence[OpenAIMessage]) -> int:
    """Where the turn's new part begins: the last message, or the trailing run of
    tool results."""
    start = len(messages) - 1
    while start > 0 and messages[start].role == "tool" and messages[start - 1].role == "tool":
        start -= 1
    return start


def tool_results(messages: Sequence[OpenAIMessage]) -> list[ToolResult]:
    return [ToolResult(tool_call_id=m.tool_call_id or "", content=m.text) for m in messages]


def stored_history(messages: Sequence[OpenAIMessage]) -> list[ChatMessage]:
    """The non-system messages as stored messages, oldest first; InvalidToolResults
    for results that do not answer the calls above them."""
    history: list[ChatMessage] = []
    for place, message in enumerate(messages):
        if message.role in SYSTEM_ROLES:
            continue
        if message.role != "tool":
            calls = [call.model_dump() for call in message.tool_calls or []] or None
            history.append(ChatMessage(message.role, message.text, tool_calls=calls))
            continue
        result = {"tool_call_id": message.tool_call_id, "content": message.text}
        if history and history[-1].role == "tool" and history[-1].tool_results is not None:
            history[-1].tool_results.append(result)
        else:
            _after_calls(history, place)
            history.append(ChatMessage("tool", "", tool_results=[result]))
    for index, stored in enumerate(history):
        if stored.tool_results is not None:
            calls = history[index - 1].tool_calls or []
            reply = "the assistant message before them"
            check_one_per_call([call["id"] for call in calls], stored.tool_results, reply)
    return history


def _after_calls(history: list[ChatMessage], place: int) -> None:
    if not history or not history[-1].tool_calls:
        raise InvalidToolResults(
            f"messages[{place}] is a tool message, but the message before it made no tool calls"
        )


def chat_messages_of(items: Sequence[InputItem]) -> list[OpenAIMessage]:
    """Responses input items as chat messages: function calls join the assistant
    message before them (or make one), each call output is a `tool` message."""
    messages: list[OpenAIMessage] = []
    for item in items:
        if isinstance(item, InputMessage):
            messages.append(OpenAIMessage(role=item.role, content=item.text))
        elif isinstance(item, FunctionCallOutputItem):
            messages.append(
                OpenAIMessage(role="tool", tool_call_id=item.call_id, content=item.output)
            )
        else:
            call = ToolCall(
                id=item.call_id,
                function=CalledFunction(name=item.name, arguments=item.arguments),
            )
            if not messages or messages[-1].role != "assistant":
                messages.append(OpenAIMessage(role="assistant", content=""))
            messages[-1].tool_calls = [*(messages[-1].tool_calls or []), call]
    return messages
