"""Items: the messages, function calls and call outputs a response's input, or a
conversation, is made of, as the /v1 door lists them.

A stored message is one item, or several: a reply's calls follow its message item
(`fc_<message id>_<n>`); a `tool` message is one `function_call_output` per result.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from models.openai_tool_items import FunctionCallItem, FunctionCallOutputItem

ITEM_EXAMPLE: dict[str, Any] = {
    "type": "message",
    "id": "msg_1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
    "role": "user",
    "status": "completed",
    "content": [{"type": "input_text", "text": "Where should I go in May?"}],
}
ITEMS_EXAMPLE: dict[str, Any] = {
    "object": "list",
    "data": [ITEM_EXAMPLE],
    "first_id": ITEM_EXAMPLE["id"],
    "last_id": ITEM_EXAMPLE["id"],
    "has_more": False,
}


class Item(BaseModel):
    """A message item (of a response's input, or of a conversation): user, system and
    developer text is `input_text`, the assistant's `output_text`."""

    model_config = ConfigDict(json_schema_extra={"examples": [ITEM_EXAMPLE]})

    type: Literal["message"] = "message"
    id: str
    role: str
    status: Literal["completed", "in_progress", "incomplete"]
    content: list[dict[str, Any]]


AnyItem = Item | FunctionCallItem | FunctionCallOutputItem
"""A stored message is one item, or several: a reply's calls follow its message; a
`tool` message is one `function_call_output` per result."""


class ItemList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ITEMS_EXAMPLE]})

    object: Literal["list"] = "list"
    data: list[AnyItem]
    first_id: str | None
    last_id: str | None
    has_more: bool
