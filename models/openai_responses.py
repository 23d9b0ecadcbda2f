"""OpenAI's Responses API shapes, as the /v1 door serves them.

A response is one of our replies: its id is `resp_` and the reply's message id, its
one output item the reply (`msg_` and the same id), its input the user message it
answers. `previous_response_id` branches from that reply (our `parent_id`), and
`conversation` is a session. Arguments the door does not carry out are refused by
name (422), never dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.openai_tool_items import (
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    ResponseToolChoice,
)
from models.text import Text
from models.tools import MAX_TOOLS, TOOL_CHOICE_DOC

RESPONSE_PREFIX = "resp_"
ITEM_PREFIX = "msg_"


class InputText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["input_text", "output_text", "text"]
    text: Text


class InputMessage(BaseModel):
    """One input item: a message (the only kind carried so far)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: Text | list[InputText]

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content


InputItem = InputMessage | FunctionCallItem | FunctionCallOutputItem


class ConversationRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Text


RESPONSE_REQUEST_EXAMPLE: dict[str, Any] = {
    "model": "profile:travel-planner",
    "input": "Where should I go in May?",
    "previous_response_id": "resp_9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "max_output_tokens": 256,
}


RESPONSE_TOOLS_EXAMPLE: dict[str, Any] = {
    "model": "profile:travel-planner",
    "previous_response_id": "resp_9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "input": [{"type": "function_call_output", "call_id": "call_0", "output": "18 C, sunny"}],
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ],
}


class ResponseRequest(BaseModel):
    """POST /v1/responses."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [RESPONSE_REQUEST_EXAMPLE, RESPONSE_TOOLS_EXAMPLE]},
    )

    model: Text | None = Field(
        None,
        min_length=1,
        max_length=300,
        description="An upstream model, or `profile:<name>`; default: the session's",
    )
    input: Text | list[InputMessage | FunctionCallItem | FunctionCallOutputItem] = Field(
        description="A user message, or items (messages, function calls and their"
        " outputs); the last must be a user message or function call outputs"
    )
    instructions: Text | None = Field(
        None, description="The system prompt of a new conversation (its session's)"
    )
    previous_response_id: Text | None = Field(
        None, description="Go on from that response (a branch, if it is not the newest)"
    )
    conversation: Text | ConversationRef | None = Field(
        None, description="A conversation (a session) whose active path this continues"
    )
    store: bool = Field(
        True,
        description="`false`: the response (its input and reply; its session, when it"
        " started one) is deleted once it has ended: not retrievable, not in the"
        " conversation. Not with `background`",
    )
    stream: bool = False
    background: bool = Field(
        False, description="Answer at once (`in_progress`); retrieve or cancel it later"
    )
    max_output_tokens: int | None = Field(None, ge=1, le=32768)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    truncation: Literal["auto", "disabled"] = Field(
        "auto",
        description="`auto`: our memory fits the context (the oldest history left out, or"
        " summarized); `disabled`: a conversation that does not fit whole is 400"
        " `context_length_exceeded`",
    )
    metadata: dict[str, str] | None = Field(None, description="Stored with a new conversation")
    user: str | None = Field(None, max_length=256, description="Accepted and not used")
    tools: list[FunctionTool] | None = Field(
        None, max_length=MAX_TOOLS, description="Function tools, relayed; the service runs none"
    )
    tool_choice: ResponseToolChoice | None = Field(None, description=TOOL_CHOICE_DOC)
    parallel_tool_calls: Literal[True] | None = Field(
        None, description="Only true (the upstream's default): `false` is refused"
    )

    @model_validator(mode="after")
    def _background_is_stored(self) -> ResponseRequest:
        if self.background and not self.store:
            raise ValueError("a background response must be stored: send store: true")
        return self

    @field_validator("input")
    @classmethod
    def _ends_with_user(cls, value: str | list[InputItem]) -> str | list[InputItem]:
        if isinstance(value, list) and value and value[-1].type == "function_call_output":
            return value
        last = value if isinstance(value, str) else value[-1] if value else None
        if not isinstance(last, (str, InputMessage)) or (
            isinstance(last, InputMessage) and last.role != "user"
        ):
            raise ValueError("the last input item must be a user message or function outputs")
        if not (last if isinstance(last, str) else last.text).strip():
            raise ValueError("the user message must have some text")
        return value

    @property
    def items(self) -> list[InputItem]:
        if isinstance(self.input, str):
            return [InputMessage(role="user", content=self.input)]
        return self.input

    @property
    def conversation_id(self) -> str | None:
        if isinstance(self.conversation, ConversationRef):
            return self.conversation.id
        return self.conversation


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)


class OutputMessage(BaseModel):
    type: Literal["message"] = "message"
    id: str
    status: Literal["in_progress", "completed", "incomplete"]
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


class ResponseUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: dict[str, int] = Field(default_factory=lambda: {"cached_tokens": 0})
    output_tokens_details: dict[str, int] = Field(default_factory=lambda: {"reasoning_tokens": 0})


class ResponseError(BaseModel):
    code: str
    message: str


RESPONSE_EXAMPLE: dict[str, Any] = {
    "id": "resp_9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "object": "response",
    "created_at": 1764500000,
    "status": "completed",
    "model": "SmolLM2-135M-Instruct",
    "output": [
        {
            "type": "message",
            "id": "msg_9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Lisbon.", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 31, "output_tokens": 3, "total_tokens": 34},
    "conversation": {"id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b"},
}


class ResponseObject(BaseModel):
    """A response as OpenAI's clients read it. `conversation.id` is its session."""

    model_config = ConfigDict(json_schema_extra={"examples": [RESPONSE_EXAMPLE]})

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["queued", "in_progress", "completed", "incomplete", "cancelled", "failed"]
    model: str
    output: list[OutputMessage | FunctionCallItem] = Field(
        description="The reply's message, then a `function_call` item per call it made"
    )
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    incomplete_details: dict[str, str] | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: ConversationRef | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    background: bool = False
    store: bool = True
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    truncation: str = "auto"
    parallel_tool_calls: bool = True
    tool_choice: ResponseToolChoice = "auto"
    tools: list[FunctionTool] = Field(default_factory=list)
    text: dict[str, Any] = Field(default_factory=lambda: {"format": {"type": "text"}})


class ResponseDeleted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "resp_9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
                    "object": "response.deleted",
                    "deleted": True,
                }
            ]
        }
    )

    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: bool = True
