"""Function tools in the Responses API's shapes: the flat tool definition, the
`function_call` item a reply makes and the `function_call_output` item a client
sends back. They map one to one onto models/tools.py (the chat completions shapes
the upstream speaks); the service runs no tool.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.text import Text
from models.tools import (
    TOOL_NAME_PATTERN,
    FunctionName,
    FunctionSpec,
    NamedToolChoice,
    ToolChoice,
    ToolSpec,
)

CALL_ITEM_PREFIX = "fc_"
ItemStatus = Literal["in_progress", "completed", "incomplete"]


class FunctionTool(BaseModel):
    """A function the model may call (Responses spell it flat)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function"] = Field(description="Only function tools")
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: Text | None = Field(None, max_length=8192)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    def as_spec(self) -> ToolSpec:
        function = FunctionSpec(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            strict=self.strict,
        )
        return ToolSpec(type="function", function=function)


class FunctionChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    name: str = Field(pattern=TOOL_NAME_PATTERN)


ResponseToolChoice = Literal["none", "auto", "required"] | FunctionChoice


def chat_tool_choice(choice: ResponseToolChoice | None) -> ToolChoice | None:
    if isinstance(choice, FunctionChoice):
        return NamedToolChoice(type="function", function=FunctionName(name=choice.name))
    return choice


class FunctionCallItem(BaseModel):
    """A call the model made: run it, then send a `function_call_output` with its
    `call_id`. As input, a call echoed back from an earlier output."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["function_call"]
    id: str | None = None
    call_id: Text = Field(min_length=1, max_length=200)
    name: str = Field(pattern=TOOL_NAME_PATTERN)
    arguments: Text = Field(description="JSON text, as the model wrote it")
    status: ItemStatus | None = None


class FunctionCallOutputItem(BaseModel):
    """The result of running one call, sent back as input."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["function_call_output"]
    id: str | None = None
    call_id: Text = Field(min_length=1, max_length=200)
    output: Text
    status: ItemStatus | None = None


def call_item_id(message_id: str, index: int) -> str:
    """A call's item id: its reply's message id and its place among the calls."""
    return f"{CALL_ITEM_PREFIX}{message_id}_{index}"
