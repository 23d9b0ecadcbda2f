"""GET /metrics: Prometheus' text format, for an admin key."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.auth import AdminDep
from api.deps import get_services
from api.responses import ADMIN_ONLY, ROUTER_ERRORS

router = APIRouter(tags=["metrics"], responses={**ROUTER_ERRORS, **ADMIN_ONLY})

EXAMPLE = """# HELP chat_turns_total Turns ended, by outcome (the reply's status)
# TYPE chat_turns_total counter
chat_turns_total{outcome="complete"} 42.0
# HELP chat_replies_generating Replies being generated now
# TYPE chat_replies_generating gauge
chat_replies_generating 1.0
"""


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Every metric, in Prometheus' text exposition format",
            "content": {"text/plain": {"example": EXAMPLE, "schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request, _admin: AdminDep) -> Response:
    """Prometheus metrics: turns by outcome, failed turns and error responses by code,
    tokens by model, time to first token and turn duration, replies generating now,
    each LLM server's state, database write latency, summary and title jobs. Under
    gunicorn, every worker's figures added up (PROMETHEUS_MULTIPROC_DIR). With
    AUTH_MODE=api_key it takes an admin key."""
    body, content_type = get_services(request).metrics.exposition()
    return Response(body, media_type=content_type)
