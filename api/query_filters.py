"""Query-string fields whose names are not known in advance: `metadata.<key>`."""

from __future__ import annotations

from fastapi import Request

METADATA_PREFIX = "metadata."


def metadata_filters(request: Request) -> dict[str, str]:
    """`metadata.<key>=<value>` pairs of the query string (the last value of a key
    given twice); the service checks the keys."""
    return {
        name.removeprefix(METADATA_PREFIX): value
        for name, value in request.query_params.items()
        if name.startswith(METADATA_PREFIX)
    }
