"""The context plan of a reply: what was sent to the LLM for it, counted.

Stored with the assistant message as ids and counts, never copies of text: a few
hundred bytes written in the turn's first transaction, with the placeholder it
describes (services/memory/plan.py makes it); `from_stored` reads it back.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PartKind = Literal["system", "summary", "message"]


class ContextPart(BaseModel):
    """One piece of the prompt, in the order sent."""

    kind: PartKind
    id: str | None = Field(None, description="The message's (or summary's) id; null for system")
    role: str
    tokens: int = Field(..., description="Its content's tokens plus the template's framing")


class LeftOut(BaseModel):
    """History of the path read as candidates but not sent: it did not fit."""

    messages: int = 0
    tokens: int = 0


class ContextPlan(BaseModel):
    """What a reply's prompt held and why, as counted before it was sent."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
                    "counter": "server",
                    "model": "SmolLM2-135M-Instruct",
                    "context_tokens": 2048,
                    "budget_tokens": 1781,
                    "reply_room_tokens": 256,
                    "framing_tokens": 11,
                    "prompt_tokens": 61,
                    "parts": [
                        {"kind": "system", "id": None, "role": "system", "tokens": 12},
                        {
                            "kind": "message",
                            "id": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
                            "role": "user",
                            "tokens": 38,
                        },
                    ],
                    "left_out": {"messages": 0, "tokens": 0},
                    "summary_id": None,
                }
            ]
        }
    )

    message_id: str = Field(..., description="The assistant message this prompt was for")
    counter: Literal["server", "estimate"] = Field(
        ..., description="server: the LLM server's own tokenizer; estimate: our high-side rule"
    )
    model: str | None = Field(None, description="The model whose tokenizer counted")
    context_tokens: int = Field(..., description="The model's context (LLM_CONTEXT_TOKENS)")
    budget_tokens: int = Field(..., description="Tokens the prompt could take")
    reply_room_tokens: int = Field(..., description="Tokens kept for the reply (max_tokens)")
    framing_tokens: int = Field(
        ..., description="What the chat template adds once per prompt (measured from the server)"
    )
    prompt_tokens: int = Field(..., description="framing_tokens plus every part's tokens")
    parts: list[ContextPart]
    left_out: LeftOut
    summary_id: str | None = Field(None, description="The summary sent, if any")

    @classmethod
    def from_stored(cls, message_id: str, stored: dict[str, Any]) -> ContextPlan:
        parts = [
            ContextPart(kind=kind, id=id_, role=role, tokens=tokens)
            for kind, id_, role, tokens in stored["parts"]
        ]
        messages, tokens = stored["left_out"]
        fields = {k: v for k, v in stored.items() if k not in ("parts", "left_out")}
        return cls(
            message_id=message_id,
            parts=parts,
            left_out=LeftOut(messages=messages, tokens=tokens),
            **fields,
        )
