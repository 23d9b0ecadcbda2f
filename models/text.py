"""Text a client sends that must survive storage and come back byte-exact.

JSON may spell things that are not text: a lone UTF-16 surrogate (`"\\ud800"`) has no
UTF-8 form, so it could be neither stored nor sent back, and `NaN` or `Infinity` are
no JSON a client could read back. NUL (U+0000) is refused too: no text column of
PostgreSQL can hold it, and a history must move between the two databases intact.
Such input is refused with 422 naming the field; everything else, other control
characters, right-to-left marks, emoji sequences, is kept exactly as sent. A NUL in
a model's reply becomes U+FFFD (the replacement character) when it arrives.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator

NUL = "\x00"
REPLACEMENT = "\ufffd"


def unicode_text(value: str) -> str:
    if NUL in value:
        raise ValueError(
            f"contains a NUL character (U+0000) at character {value.index(NUL)}, which "
            "cannot be stored; remove it"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains a lone UTF-16 surrogate at character {exc.start}, which is not "
            "text; send Unicode characters (surrogates only in pairs)"
        ) from None
    return value


def storable(text: str) -> str:
    """A model's text with any NUL replaced (it cannot be refused: it is a reply)."""
    return text.replace(NUL, REPLACEMENT) if NUL in text else text


def json_bytes(value: Any) -> int:
    """The UTF-8 size of `value` as JSON; ValueError for what no JSON text can carry."""
    try:
        return len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains a lone UTF-16 surrogate at character {exc.start} of its JSON, "
            "which is not text"
        ) from None
    except ValueError:
        raise ValueError("contains NaN or Infinity, which JSON cannot carry") from None


Text = Annotated[str, AfterValidator(unicode_text)]
