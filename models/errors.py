"""The one shape every error response has."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Error body of every 4xx/5xx; `code` is stable, `detail` is for humans."""

    detail: str = Field(..., examples=["Session 3f2b8c1e-... not found"])
    code: str = Field(..., examples=["session_not_found"])
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        None, description="Per-field problems of a 422 validation error"
    )
    message_id: str | None = Field(
        None, description="409 turn_in_progress: the assistant message being generated"
    )
