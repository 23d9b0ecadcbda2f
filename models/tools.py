"""Function tools: what a client offers the model, the calls a reply makes, and the
results the client sends back.

The service relays tools and stores calls and results; it never runs a tool. The
shapes are OpenAI's function tools (the /v1 door and /api take the same ones), so
a tool list written for one works on the other and on the upstream.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.text import Text

MAX_TOOLS = 128  # OpenAI's own limit on `tools`
MAX_TOOL_RESULTS = 128
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
TOOL_CHOICE_DOC = (
    "`auto` (the model decides), `none`, `required`, or"
    ' {"type": "function", "function": {"name": ...}} to force one'
)
TOOL_EXAMPLE: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather now in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TOOL_CALL_EXAMPLE: dict[str, Any] = {
    "id": "call_0",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Lisbon"}'},
}


class FunctionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOOL_NAME_PATTERN, description="Letters, digits, _ and -; 1-64")
    description: Text | None = Field(None, max_length=8192)
    parameters: dict[str, Any] | None = Field(
        None, description="The arguments as a JSON Schema object, relayed as given"
    )
    strict: bool | None = None


class ToolSpec(BaseModel):
    """One function the model may call."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TOOL_EXAMPLE]})

    type: Literal["function"] = Field(description="Only function tools")
    function: FunctionSpec


class FunctionName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOOL_NAME_PATTERN)


class NamedToolChoice(BaseModel):
    """Force a call of this function."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class CalledFunction(BaseModel):
    name: str
    arguments: str = Field(description="The arguments as the model wrote them: JSON text")


class ToolCall(BaseModel):
    """A call the model made; the client runs it and sends back a result with its id."""

    model_config = ConfigDict(json_schema_extra={"examples": [TOOL_CALL_EXAMPLE]})

    id: str
    type: Literal["function"] = "function"
    function: CalledFunction


class ToolResult(BaseModel):
    """What the client's run of one call gave."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tool_call_id": "call_0", "content": "18 C, sunny"}]},
    )

    tool_call_id: Text = Field(min_length=1, max_length=200, description="The call's `id`")
    content: Text = Field(description="The result, as text the model reads")


class ToolOptions(BaseModel):
    """The tools a turn offers the model (relayed upstream as given)."""

    tools: list[ToolSpec] | None = Field(
        None,
        max_length=MAX_TOOLS,
        description="Function tools the model may call (OpenAI's shape); the service"
        " relays them and runs none: the client runs the calls it gets",
    )
    tool_choice: ToolChoice | None = Field(None, description=TOOL_CHOICE_DOC)

    def tools_wire(self) -> tuple[list[dict[str, Any]] | None, Any]:
        """`tools` and `tool_choice` as the upstream's JSON."""
        tools = [tool.model_dump(exclude_none=True) for tool in self.tools or []] or None
        choice = self.tool_choice
        return tools, choice.model_dump() if isinstance(choice, NamedToolChoice) else choice
