"""Chat profile routes: create, find, read, change, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from api.auth import CallerDep
from api.deps import ProfilesDep, require_json_body
from api.responses import (
    BAD_CURSOR,
    BODY_ERRORS,
    PROFILE_NAME_TAKEN,
    PROFILE_NOT_FOUND,
    ROUTER_ERRORS,
    VALIDATION,
)
from models.profile import ProfileCreate, ProfilePage, ProfilePublic, ProfileUpdate
from services.profiles.search import Order, ProfileQuery, SortKey

router = APIRouter(prefix="/api/profiles", tags=["profiles"], responses=ROUTER_ERRORS)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ProfilePublic,
    responses={**PROFILE_NAME_TAKEN, **VALIDATION, **BODY_ERRORS},
    dependencies=[Depends(require_json_body)],
)
async def create_profile(
    body: ProfileCreate, profiles: ProfilesDep, caller: CallerDep
) -> ProfilePublic:
    """Create a chat profile: a name and the turn settings its sessions default to
    (system prompt, model, sampling, reply length, memory). Give a session one with
    `profile_id` (POST or PATCH /api/sessions). Names are unique per API key (409)."""
    return await profiles.create(body, caller)


@router.get("", response_model=ProfilePage, responses={**BAD_CURSOR, **VALIDATION})
async def list_profiles(
    profiles: ProfilesDep,
    caller: CallerDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Words in the name or description")
    ] = None,
    tag: Annotated[
        str | None, Query(max_length=50, description="Only profiles with this tag")
    ] = None,
    sort: Annotated[SortKey, Query(description="The order's key")] = "updated_at",
    order: Annotated[Order, Query(description="asc or desc")] = "desc",
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page (same sort and order)")
    ] = None,
) -> ProfilePage:
    """The caller's profiles (an admin key's: everyone's), found and ordered as asked,
    keyset-paginated."""
    query = ProfileQuery(q=q, tag=tag, sort=sort, order=order, limit=limit, cursor=cursor)
    return await profiles.search(query, caller)


@router.get("/{profile_id}", response_model=ProfilePublic, responses=PROFILE_NOT_FOUND)
async def get_profile(profile_id: str, profiles: ProfilesDep, caller: CallerDep) -> ProfilePublic:
    """Read one profile."""
    return await profiles.get(profile_id, caller)


@router.patch(
    "/{profile_id}",
    response_model=ProfilePublic,
    responses={**PROFILE_NOT_FOUND, **PROFILE_NAME_TAKEN, **VALIDATION, **BODY_ERRORS},
    dependencies=[Depends(require_json_body)],
)
async def update_profile(
    profile_id: str, body: ProfileUpdate, profiles: ProfilesDep, caller: CallerDep
) -> ProfilePublic:
    """Change the fields given (null clears one, except the name); the sessions using
    the profile follow from their next turn."""
    return await profiles.update(profile_id, body, caller)


@router.delete("/{profile_id}", status_code=status.HTTP_204_NO_CONTENT, responses=PROFILE_NOT_FOUND)
async def delete_profile(profile_id: str, profiles: ProfilesDep, caller: CallerDep) -> Response:
    """Delete a profile; the sessions that used it go on with the service's defaults."""
    await profiles.delete(profile_id, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
