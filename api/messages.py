"""Routes on one assistant reply: stop it, or follow its stream again (resume)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import RunnerDep
from api.responses import MESSAGE_NOT_FOUND
from models.chat import StopResult

router = APIRouter(prefix="/api/messages", tags=["messages"])


@router.post("/{message_id}/cancel", response_model=StopResult, responses=MESSAGE_NOT_FOUND)
async def cancel_reply(message_id: str, runner: RunnerDep) -> StopResult:
    """Stop this reply if it is still being generated (as `POST /api/sessions/{id}/stop`).

    A reply that already ended is left as it is: 200 with `stopped: false` and its status.
    """
    return await runner.stop_message(message_id)
