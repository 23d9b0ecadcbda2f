"""OpenAPI documentation of error responses, shared by the routers."""

from __future__ import annotations

from typing import Any

from models.errors import ErrorBody


def error_doc(status: int, description: str, detail: str, code: str) -> dict[int | str, Any]:
    example = {"detail": detail, "code": code, "request_id": "5f0c6e0a9b7d4c1e8a2b3c4d5e6f7a8b"}
    return {
        status: {
            "model": ErrorBody,
            "description": description,
            "content": {"application/json": {"example": example}},
        }
    }


SESSION_NOT_FOUND = error_doc(
    404,
    "Unknown, deleted or expired session",
    "Session 3f2b8c1e-... not found",
    "session_not_found",
)
VALIDATION = error_doc(
    422,
    "The request names a bad field",
    "temperature: Input should be less than or equal to 2",
    "validation_error",
)
NOT_JSON = error_doc(
    415,
    "Body is not declared as JSON",
    "Content-Type must be application/json, got text/plain",
    "unsupported_media_type",
)
TOO_LONG = error_doc(
    413,
    "Message over MAX_MESSAGE_CHARS",
    "message has 40000 characters; the limit is 32000",
    "message_too_long",
)
LLM_ERRORS: dict[int | str, Any] = {
    **error_doc(
        502,
        "LLM server answered an error or an unparseable reply",
        "LLM server answered HTTP 500: out of memory",
        "llm_upstream_error",
    ),
    **error_doc(503, "LLM server not reachable", "LLM server not available", "llm_unavailable"),
    **error_doc(
        504, "LLM server did not answer in time", "LLM server did not answer in time", "llm_timeout"
    ),
}
