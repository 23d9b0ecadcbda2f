"""Whole numbers as JSON Schema reads them, in models that are otherwise strict.

The strict request models refuse `"256"` and `true` where a number goes, as their
schema says. JSON Schema's `integer` is any number with no fractional part, so `256.0`
is one: a client that computes a length as a float sends it (Python's
`json.dumps(512 / 2)` is `256.0`), and the schema promises it is accepted. `JsonInt`
takes it as 256; `256.5` is still refused.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator


def _whole_float_as_int(value: object) -> object:
    """256.0 -> 256; anything else goes on to the strict int check unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_whole_float_as_int)]
"""An int field of a strict model that accepts a JSON number with no fraction."""
