"""The door's own refusals, in the service's one error family (mapped to HTTP once)."""

from __future__ import annotations

from services.errors import ServiceError


class UnknownProfileModel(ServiceError):
    """`profile:<name>` names no chat profile the caller may use."""

    status_code = 404
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model {model!r} does not exist: no chat profile of yours has that name"
            " (GET /v1/models lists them)"
        )


class SessionConflict(ServiceError):
    """The request names a session twice, differently; or a profile model that is not
    the session's own."""

    status_code = 422
    code = "session_conflict"
