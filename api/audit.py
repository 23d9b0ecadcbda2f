"""The audit trail, for admin keys: who created, deleted or exported which session."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import AdminDep
from api.deps import AuditDep
from api.responses import ADMIN_ONLY, BAD_CURSOR, ROUTER_ERRORS
from models.auth import AuditPage

router = APIRouter(prefix="/api/audit", tags=["audit"], responses={**ROUTER_ERRORS, **ADMIN_ONLY})


@router.get("", response_model=AuditPage, responses=BAD_CURSOR)
async def audit_trail(
    audit: AuditDep,
    _admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size")] = 100,
    cursor: Annotated[
        str | None,
        Query(description="next_cursor of the previous page", pattern=r"^[0-9]{1,18}$"),
    ] = None,
    session_id: Annotated[str | None, Query(description="Only this session's events")] = None,
    actor: Annotated[str | None, Query(description="Only this key name's events")] = None,
    action: Annotated[
        str | None, Query(description="Only this action, e.g. session.delete")
    ] = None,
) -> AuditPage:
    """Security events, newest first: sessions created, deleted and exported, keys
    created and revoked; each with the key name that did it, the time and the
    request id (as in the logs). Never message content."""
    return await audit.page(limit, cursor, session_id, actor, action)
