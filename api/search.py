"""GET /api/search: full-text search over the caller's messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import CallerDep
from api.deps import SearchDep
from api.responses import LIST_ERRORS, ROUTER_ERRORS
from models.search import MAX_QUERY_CHARS, SearchPage

router = APIRouter(prefix="/api/search", tags=["search"], responses=ROUTER_ERRORS)


@router.get("", response_model=SearchPage, responses=LIST_ERRORS)
async def search_messages(
    search: SearchDep,
    caller: CallerDep,
    q: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_CHARS,
            description="The words to find: messages holding every one of them (each as"
            " a word or its start, any case; punctuation is ignored)",
            examples=["busan ferry"],
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> SearchPage:
    """The caller's messages (an admin key's: everyone's) that match `q`, newest
    first, on every branch, with their session's id and title and a plain-text
    snippet around the first match; `highlights` gives the offsets of the matching
    words in it. Replies still being generated are found once they end."""
    return await search.search(q, caller, limit, cursor)
