"""Request and response shapes of a chat turn (whole and streamed)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.message import TokenUsage
from models.numbers import JsonInt
from models.text import Text
from models.tools import MAX_TOOL_RESULTS, TOOL_EXAMPLE, ToolCall, ToolOptions, ToolResult

MAX_STOP_SEQUENCES = 4


def _as_list(value: object) -> object:
    """`stop` may be one string, as in the OpenAI API; we always carry a list."""
    return [value] if isinstance(value, str) else value


def _stop_count(stops: list[str] | None) -> list[str] | None:
    if stops is not None and (len(stops) > MAX_STOP_SEQUENCES or not all(stops)):
        raise ValueError(f"stop takes 1 to {MAX_STOP_SEQUENCES} non-empty strings")
    return stops


StopSequences = Annotated[list[Text] | None, BeforeValidator(_as_list), AfterValidator(_stop_count)]
"""`stop`: one string or a list of up to MAX_STOP_SEQUENCES non-empty ones."""


class SamplingOptions(BaseModel):
    """How a reply is generated: the sampling fields, and what a dropped stream does.

    Strict: a JSON number field takes a number, not "256" (a whole one takes 256.0, a
    JSON Schema integer too: models/numbers.py), a flag takes true or false, as the
    schema says (ChatQuery relaxes that for query strings).
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"temperature": 1.1, "max_new_tokens": 256}]},
    )

    max_new_tokens: JsonInt | None = Field(
        None, ge=1, le=32768, description="Reply length cap; default DEFAULT_MAX_TOKENS"
    )
    temperature: float | None = Field(
        None, ge=0, le=2, description="Sampling temperature; default DEFAULT_TEMPERATURE"
    )
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass")
    model: Text | None = Field(
        None,
        min_length=1,
        max_length=300,
        description="The upstream model, on servers that serve several (vLLM, Ollama);"
        " default: the session's profile's, else LLM_MODEL",
    )
    do_sample: bool | None = Field(None, description="false = greedy (temperature 0)")
    stop: StopSequences = Field(
        None,
        description="Up to 4 stop sequences (a string or a list)",
        json_schema_extra={
            "anyOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "maxItems": MAX_STOP_SEQUENCES,
                },
                {"type": "null"},
            ]
        },
    )

    truncation: Literal["auto", "disabled"] = Field(
        "auto",
        description="`auto`: the window leaves out the oldest history that does not fit;"
        " `disabled`: a turn whose history does not all fit (the token budget, the message"
        " cap, a summary) is refused with 400 `context_length_exceeded`, nothing stored",
    )
    on_disconnect: Literal["continue", "cancel"] = Field(
        "continue",
        description=(
            "What a dropped stream (SSE or WebSocket) does to the generation: `continue` "
            "(default) generates and stores the whole reply, which can be resumed; "
            "`cancel` stops it as a stop request would"
        ),
    )


class TurnOptions(SamplingOptions, ToolOptions):
    """The sampling fields and the tools a turn offers: the body of a regenerate,
    part of every chat request."""


class ChatTarget(BaseModel):
    """Where a chat turn goes: its session, and the branch point in it."""

    session_id: Text | None = Field(None, description="Omit to start a new session")
    parent_id: Text | None = Field(
        None,
        description="Continue from this message of the session instead of the end of the"
        " active path (a branch from any point); needs session_id",
    )
    edit_of: Text | None = Field(
        None,
        description="A user message of the session: this message becomes a new version of"
        " it (same parent; the old version stays), then the reply is generated; needs"
        " session_id",
    )

    @model_validator(mode="after")
    def _one_branch_point(self) -> Self:
        if self.parent_id is not None and self.edit_of is not None:
            raise ValueError("give parent_id or edit_of, not both")
        if self.session_id is None and (self.parent_id or self.edit_of) is not None:
            raise ValueError("parent_id and edit_of name a message of a session: send session_id")
        return self


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("message must not be empty or whitespace")
    return value


MESSAGE_DOC = "The user's message; not empty, at most MAX_MESSAGE_CHARS"


class ChatRequest(TurnOptions, ChatTarget):
    """One user turn. Without session_id a new session is created for it.

    By default the message continues the session's active path; `parent_id` continues
    from another message instead, `edit_of` makes it a new version of an earlier user
    message. The turn's branch becomes the active path. Instead of a message, a turn
    can send `tool_results`: the results of the calls the reply it follows made.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
                    "message": "Hello!",
                    "max_new_tokens": 256,
                    "temperature": 0.7,
                    "do_sample": True,
                },
                {
                    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
                    "message": "Hello! Answer in French, please.",
                    "edit_of": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
                },
                {
                    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
                    "message": "What is the weather in Lisbon?",
                    "tools": [TOOL_EXAMPLE],
                },
                {
                    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
                    "tool_results": [{"tool_call_id": "call_0", "content": "18 C, sunny"}],
                    "tools": [TOOL_EXAMPLE],
                },
            ]
        },
    )

    tool_results: list[ToolResult] | None = Field(
        None,
        min_length=1,
        max_length=MAX_TOOL_RESULTS,
        description="Instead of a message: the results of the tool calls of the reply this"
        " turn follows (the active leaf, or parent_id), one per call; stored as one `tool`"
        " message, then the model goes on. The service runs no tool itself",
    )
    message: Text | None = Field(
        None, validate_default=True, description=MESSAGE_DOC + "; required unless tool_results"
    )

    # What the /v1 door echoes back for this turn's reply (a response's metadata,
    # instructions, tools...), stored with the reply; never from a request body.
    _echo: dict[str, Any] | None = PrivateAttr(None)

    def with_echo(self, echo: dict[str, Any]) -> ChatRequest:
        self._echo = echo
        return self

    @property
    def echo(self) -> dict[str, Any] | None:
        return self._echo

    @field_validator("message")
    @classmethod
    def _message_or_results(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Required unless tool_results came (the field before it: validated first)."""
        if value is None and info.data.get("tool_results") is None:
            raise ValueError("message is required (or tool_results, to answer tool calls)")
        return _not_blank(value)

    @model_validator(mode="after")
    def _results_answer_a_reply(self) -> ChatRequest:
        if self.message is not None and self.tool_results is not None:
            raise ValueError("send message or tool_results, not both")
        if self.tool_results is not None and (self.session_id is None or self.edit_of):
            raise ValueError(
                "tool_results answer a reply of a session: send session_id (and not edit_of)"
            )
        return self


class Regeneration(TurnOptions):
    """A regenerate as the service runs it: a new reply beside `message_id`, with these
    options; with `session_id`, only a message of that session (a WebSocket's)."""

    message_id: str
    session_id: str | None = None


class ChatQuery(SamplingOptions, ChatTarget):
    """A chat turn from a query string (GET /api/chat/stream), where every value is
    text: "256" and "true" are what a number and a flag look like there. Other query
    parameters are left alone, as on the web at large: `access_token` (api/auth.py)
    and cache-busters. Tools and their results are objects a query string cannot
    carry: POST /api/chat/stream takes them."""

    model_config = ConfigDict(strict=False, extra="ignore")

    message: Text = Field(description=MESSAGE_DOC)
    _blank = field_validator("message")(_not_blank)

    def as_request(self) -> ChatRequest:
        return ChatRequest.model_validate(self.model_dump(exclude_unset=True))


class ChatResponse(BaseModel):
    """The assistant's reply to one turn, after both messages are stored."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "3f2b8c1e-5d6a-4e8f-9a0b-1c2d3e4f5a6b",
                    "user_message_id": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
                    "message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
                    "role": "assistant",
                    "content": "Hello! How can I help?",
                    "created_at": "2026-11-21T10:05:00Z",
                    "finish_reason": "stop",
                    "token_usage": {
                        "prompt_tokens": 12,
                        "completion_tokens": 7,
                        "total_tokens": 19,
                        "estimated": False,
                    },
                    "prompt_tokens": 12,
                    "model": "SmolLM2-135M-Instruct",
                }
            ]
        }
    )

    session_id: str
    user_message_id: str
    message_id: str
    role: str = "assistant"
    content: str
    created_at: datetime
    finish_reason: str | None
    token_usage: TokenUsage
    prompt_tokens: int | None = Field(
        None,
        description="The prompt as the context plan counted it before sending"
        " (GET /api/messages/{message_id}/context); null for replies older than plans",
    )
    model: str | None = Field(None, description="The model that answered, as its server named it")
    tool_calls: list[ToolCall] | None = Field(
        None,
        description="The calls the model made (finish_reason `tool_calls`): run them and"
        " send their results back as `tool_results`; null when none",
    )

    @classmethod
    def of_reply(
        cls, user_message_id: str, reply: Any, prompt_tokens: int | None = None
    ) -> ChatResponse:
        """From a stored reply: anything with these fields' names as attributes (a
        MessagePublic just stored, or a reply read back for a repeated request)."""
        names = cls.model_fields.keys() - {"user_message_id", "role", "prompt_tokens"}
        fields = {name: getattr(reply, name) for name in names}
        return cls(user_message_id=user_message_id, prompt_tokens=prompt_tokens, **fields)


class TurnStatus(BaseModel):
    """Whether a session is generating, and how far its newest reply has got."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "active": True,
                    "message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
                    "status": "streaming",
                    "started_at": "2026-11-21T10:05:00Z",
                    "chars_so_far": 412,
                }
            ]
        }
    )

    active: bool = Field(..., description="true while a reply is being generated")
    message_id: str | None = Field(None, description="The newest assistant message")
    status: str = Field(
        ..., description="That message's status (streaming, complete, ...); idle when none"
    )
    started_at: datetime | None = Field(None, description="When that turn began")
    chars_so_far: int = Field(
        0, description="Characters of it stored so far (checkpointed while streaming)"
    )


class StopResult(BaseModel):
    """What a stop request did. Stopping nothing is not an error: stopped is false."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "stopped": True,
                    "message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
                    "status": "cancelled",
                    "chars": 412,
                    "detail": "stopped",
                },
                {
                    "stopped": False,
                    "message_id": None,
                    "status": "idle",
                    "chars": 0,
                    "detail": "no reply is being generated; nothing to stop",
                },
            ]
        }
    )

    stopped: bool = Field(..., description="true when this request ended the generation")
    message_id: str | None = Field(None, description="The reply concerned, when there is one")
    status: str = Field(..., description="That reply's status now (cancelled, complete, ...)")
    chars: int = Field(0, description="Characters of it stored (kept when cancelled)")
    detail: str
