"""The OpenAI wire format of the /v1 door: chat completion requests, replies, chunks,
the model list and the error body.

Requests are checked as OpenAI checks them, with our limits: an argument the door
does not carry out (`n` > 1, `logprobs`, images...) is refused by name (422), never
dropped. Function tools are relayed; tool calls and `role: tool` results are stored.
Message objects are lenient about the empty fields an SDK echoes back from a reply
(`refusal`, `annotations`, `tool_calls: null`), so that a client can append a
reply's message to its list and send it again.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.chat import MAX_STOP_SEQUENCES, StopSequences
from models.text import Text
from models.tools import (
    MAX_TOOL_RESULTS,
    MAX_TOOLS,
    TOOL_CHOICE_DOC,
    ToolCall,
    ToolChoice,
    ToolSpec,
)

PROFILE_MODEL_PREFIX = "profile:"
SESSION_HEADER = "X-Session-Id"
OpenAIRole = Literal["system", "developer", "user", "assistant", "tool"]


class TextPart(BaseModel):
    """A content part; only text parts are carried."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text"] = Field(description="Only `text` parts are supported")
    text: Text


class OpenAIMessage(BaseModel):
    """One message of `messages`. `developer` counts as `system`."""

    model_config = ConfigDict(extra="ignore")

    role: OpenAIRole
    content: Text | list[TextPart] | None = None
    name: str | None = Field(None, description="Accepted and not used")
    tool_calls: list[ToolCall] | None = Field(
        None, max_length=MAX_TOOL_RESULTS, description="An assistant message's calls"
    )
    tool_call_id: Text | None = Field(
        None, min_length=1, max_length=200, description="A `tool` message's call"
    )

    @model_validator(mode="after")
    def _tool_fields_where_they_belong(self) -> OpenAIMessage:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only an assistant message has tool_calls")
        if (self.role == "tool") != (self.tool_call_id is not None):
            raise ValueError("a tool message, and only a tool message, has a tool_call_id")
        return self

    @property
    def text(self) -> str:
        """The content as one string (text parts joined)."""
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = Field(
        False, description="Send a last chunk with `usage` and no choices before [DONE]"
    )


CHAT_COMPLETION_EXAMPLE: dict[str, Any] = {
    "model": "profile:travel-planner",
    "messages": [{"role": "user", "content": "Where should I go in May?"}],
    "max_completion_tokens": 256,
    "stream": False,
}


class ChatCompletionRequest(BaseModel):
    """POST /v1/chat/completions. With a session (header `X-Session-Id` or
    `metadata.session_id`) only the last message is new; without one, the whole
    list is stored as a new session."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [CHAT_COMPLETION_EXAMPLE]}
    )

    model: Text = Field(
        min_length=1,
        max_length=300,
        description="An upstream model (GET /v1/models), or `profile:<name>` for a chat"
        " profile of the caller",
    )
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=32768, description="Older name of the next")
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: StopSequences = Field(
        None, description=f"Up to {MAX_STOP_SEQUENCES} stop sequences (a string or a list)"
    )
    n: Literal[1] | None = Field(None, description="Only 1: one choice per request")
    metadata: dict[str, Annotated[str, Field(max_length=512)]] | None = Field(
        None, description="`session_id` here names the session, as the header does"
    )
    user: str | None = Field(None, max_length=256, description="Accepted and not used")
    tools: list[ToolSpec] | None = Field(
        None, max_length=MAX_TOOLS, description="Function tools, relayed; the service runs none"
    )
    tool_choice: ToolChoice | None = Field(None, description=TOOL_CHOICE_DOC)
    parallel_tool_calls: Literal[True] | None = Field(
        None, description="Only true (the upstream's default): `false` is refused"
    )

    @field_validator("messages")
    @classmethod
    def _ends_with_user(cls, messages: list[OpenAIMessage]) -> list[OpenAIMessage]:
        last = messages[-1]
        if last.role == "tool":
            return messages
        if last.role != "user" or not last.text.strip():
            raise ValueError(
                "the last message must be a user message with some text, or tool results"
            )
        return messages

    @property
    def session_id(self) -> str | None:
        return (self.metadata or {}).get("session_id")


COMPLETION_EXAMPLE: dict[str, Any] = {
    "id": "chatcmpl-9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
    "object": "chat.completion",
    "created": 1764500000,
    "model": "SmolLM2-135M-Instruct",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Lisbon, before the summer crowds."},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 31, "completion_tokens": 8, "total_tokens": 39},
    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
    "message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
}
MODELS_EXAMPLE: dict[str, Any] = {
    "object": "list",
    "data": [
        {"id": "SmolLM2-135M-Instruct", "object": "model", "created": 0, "owned_by": "upstream"},
        {"id": "profile:travel-planner", "object": "model", "created": 0, "owned_by": "profile"},
    ],
}


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None = Field(description="null when the reply is tool calls alone")
    refusal: None = None
    tool_calls: list[ToolCall] | None = None


class CompletionChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str = Field(description="stop, length, tool_calls (a stopped reply: stop)")
    logprobs: None = None


class ChatCompletion(BaseModel):
    """A whole reply. `session_id` and `message_id` (also in the `X-Session-Id`
    header) name where it is stored: send the session id back to go on."""

    model_config = ConfigDict(json_schema_extra={"examples": [COMPLETION_EXAMPLE]})

    id: str = Field(description="`chatcmpl-` and the stored reply's message id")
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None
    session_id: str
    message_id: str


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = Field(description="`upstream`, or `profile` for a chat profile")


class ModelList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [MODELS_EXAMPLE]})

    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """Every error of a /v1 route (OpenAI's shape; the SDKs raise it as their own
    exception types). `code` is the same stable code /api errors carry."""

    error: OpenAIErrorDetail
