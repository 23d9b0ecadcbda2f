"""The /v1 door's OpenAPI error documentation: the /api error docs (api/responses.py)
in OpenAI's error shape, which is what api/errors.py answers on /v1 paths."""

from __future__ import annotations

import copy
from typing import Any

from api.errors import openai_error
from models.openai import OpenAIErrorBody

STREAM_EXAMPLE = (
    'data: {"id": "chatcmpl-9c1d...", "object": "chat.completion.chunk", "created":'
    ' 1764500000, "model": "profile:travel-planner", "choices": [{"index": 0, "delta":'
    ' {"role": "assistant", "content": ""}, "finish_reason": null, "logprobs": null}]}\n\n'
    'data: {"id": "chatcmpl-9c1d...", "object": "chat.completion.chunk", "created":'
    ' 1764500000, "model": "profile:travel-planner", "choices": [{"index": 0, "delta":'
    ' {"content": "Lisbon"}, "finish_reason": null, "logprobs": null}]}\n\n'
    'data: {"id": "chatcmpl-9c1d...", "object": "chat.completion.chunk", "created":'
    ' 1764500000, "model": "profile:travel-planner", "choices": [{"index": 0, "delta": {},'
    ' "finish_reason": "stop", "logprobs": null}]}\n\n'
    "data: [DONE]\n\n"
)
OPENAI_STREAM_DOC: dict[int | str, Any] = {
    200: {
        "description": "With `stream: true`, text/event-stream: `chat.completion.chunk`"
        " objects as `data:` lines (the first with the role, one per upstream chunk, the"
        " last with `finish_reason`; with `stream_options.include_usage` one more with"
        " `usage` and no choices), then `data: [DONE]`. A failure mid-stream is a"
        ' `data: {"error": {...}}` line instead, and the stream ends.',
        "content": {"text/event-stream": {"example": STREAM_EXAMPLE}},
    }
}


def openai_errors(docs: dict[int | str, Any]) -> dict[int | str, Any]:
    """Each documented error response with its examples in OpenAI's shape."""
    converted: dict[int | str, Any] = {}
    for status, doc in docs.items():
        doc = copy.deepcopy(doc)
        if "model" in doc:
            doc["model"] = OpenAIErrorBody
        media = doc.get("content", {}).get("application/json", {})
        if "example" in media:
            media["example"] = _converted(int(status), media["example"])
        for example in media.get("examples", {}).values():
            example["value"] = _converted(int(status), example["value"])
        converted[status] = doc
    return converted


def _converted(status: int, body: dict[str, Any]) -> dict[str, Any]:
    extra = {"errors": [{"field": "temperature"}]} if body["code"] == "validation_error" else {}
    return openai_error(status, body["detail"], body["code"], extra)
