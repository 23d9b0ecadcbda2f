"""Memory's errors, as the client sees them (services/errors.py has the tree)."""

from __future__ import annotations

from services.errors import ServiceError


class TokenCounterUnavailable(ServiceError):
    """TOKEN_COUNTER=server and the LLM server cannot count (no tokenize route, or
    it failed): the turn is refused rather than sized by a guess."""

    status_code = 503
    code = "token_counter_unavailable"

    def __init__(self, server: str) -> None:
        super().__init__(
            f"TOKEN_COUNTER=server, but {server} did not count the message (tried /tokenize"
            " and /extras/tokenize/count); set TOKEN_COUNTER=auto to fall back to an estimate"
        )


class NoContextPlan(ServiceError):
    """A message without a context plan: a user message, or a reply stored before
    plans were kept."""

    status_code = 404
    code = "context_plan_not_found"

    def __init__(self, message_id: str) -> None:
        super().__init__(
            f"Message {message_id} has no context plan: only replies stored since plans"
            " were kept have one"
        )
