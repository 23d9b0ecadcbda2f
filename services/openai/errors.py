"""The door's own refusals, in the service's one error family (mapped to HTTP once)."""

from __future__ import annotations

from services.errors import NotFound, ServiceError


class ResponseNotFound(NotFound):
    """No reply of the caller's sessions is that response."""

    code = "response_not_found"

    def __init__(self, response_id: str) -> None:
        super().__init__(f"Response {response_id} not found")


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
