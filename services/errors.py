"""The service's error tree. Each error carries its HTTP status and stable code.

Services raise these; api/errors.py renders them once, as HTTP bodies or, after the
first SSE byte, as `error` events with the same code and message.

    ServiceError
    ├── NotFound                   404  session_not_found / message_not_found
    ├── InvalidCursor              422  invalid_cursor
    ├── NotInSession               422  invalid_leaf / invalid_parent / invalid_edit_of /
    │                                   invalid_message_id (a message not of the session)
    ├── NothingToRegenerate        422  nothing_to_regenerate
    ├── InvalidToolResults         422  invalid_tool_results (not one result per call)
    ├── MessageTooLong             413  message_too_long
    ├── DatabaseUnavailable        503  database_unavailable
    │   └── ReplyNotStored         503  database_unavailable (a reply kept to store later)
    ├── ContextTooLong             422  context_too_long
    │   └── ContextLengthExceeded  400  context_length_exceeded (truncation: disabled)
    ├── IdempotencyKeyReused       422  idempotency_key_reused
    ├── RepeatedFailure            the original's status and code (a repeat of a failed turn)
    ├── TurnInProgress             409  turn_in_progress (names the streaming message_id)
    ├── TurnInterrupted            503  interrupted (the service stopped mid-reply)
    ├── ShuttingDown               503  shutting_down (SIGTERM: draining; Retry-After)
    ├── Unauthenticated            401  unauthenticated / invalid_api_key / api_key_revoked
    ├── AdminRequired              403  admin_required
    ├── KeyNameTaken               409  key_name_taken (`keys create`)
    ├── RateLimited                429  rate_limited / too_many_streams (Retry-After)
    ├── (the /v1 door's: model_not_found, response_not_found, session_conflict)
    └── LLMError                   502-504  the LLM server failed (services/llm/errors.py)
"""

from __future__ import annotations

import math


class ServiceError(Exception):
    """Base of every error a client may see; message is safe to show."""

    status_code = 500
    code = "internal_error"
    retry_after: float | None = None  # seconds; sent as Retry-After when set

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def headers(self) -> dict[str, str]:
        """HTTP headers the error's response carries."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class SessionNotFound(NotFound):
    code = "session_not_found"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id} not found")


class MessageNotFound(NotFound):
    code = "message_not_found"

    def __init__(self, message_id: str) -> None:
        super().__init__(f"Message {message_id} not found")


class InvalidCursor(ServiceError):
    status_code = 422
    code = "invalid_cursor"

    def __init__(self, cursor: str) -> None:
        super().__init__(f"cursor {cursor!r} is not one this service handed out")


class NotInSession(ServiceError):
    """A request named, in `field`, a message that is not one of the session's (or
    not of the kind it needs). Another key's message is exactly a missing one."""

    status_code = 422
    field = "message_id"
    kind = "message"

    def __init__(self, message_id: str) -> None:
        super().__init__(f"{self.field} {message_id!r} is no {self.kind} of this session")


class InvalidToolResults(ServiceError):
    """tool_results that do not answer the calls of the reply they follow, one each."""

    status_code = 422
    code = "invalid_tool_results"


class InvalidLeaf(NotInSession):
    """A history asked to end at a message that is not one of the session's."""

    code, field = "invalid_leaf", "leaf"


class InvalidParent(NotInSession):
    """A turn asked to continue from a message that is not one of the session's."""

    code, field = "invalid_parent", "parent_id"


class InvalidEdit(NotInSession):
    """A turn asked to edit something other than a user message of the session."""

    code, field, kind = "invalid_edit_of", "edit_of", "user message"


class InvalidForkPoint(NotInSession):
    """A fork asked to copy the path to a message that is not one of the session's."""

    code = "invalid_message_id"


class NothingToRegenerate(ServiceError):
    """A regenerate named a reply with no user message above it to answer again."""

    status_code = 422
    code = "nothing_to_regenerate"

    def __init__(self, message_id: str) -> None:
        super().__init__(f"message {message_id!r} has no user message above it to reply to")


class MessageTooLong(ServiceError):
    status_code = 413
    code = "message_too_long"

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"message has {length} characters; the limit is {limit}")


class DatabaseUnavailable(ServiceError):
    status_code = 503
    code = "database_unavailable"


class ReplyNotStored(DatabaseUnavailable):
    """A turn's end the database refused; services/turns/ends.py stores it later."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"{reason}; the reply was generated and will be stored as soon as the "
            "database can be written again"
        )


class ContextTooLong(ServiceError):
    """The prompt cannot fit the model's context, even with the window cut to nothing."""

    status_code = 422
    code = "context_too_long"


class ContextLengthExceeded(ContextTooLong):
    """`truncation: disabled`, and the window would have to leave history out (OpenAI's
    own status and code for it)."""

    status_code = 400
    code = "context_length_exceeded"


class IdempotencyKeyReused(ServiceError):
    """An Idempotency-Key sent again with a different request: not a retry, a mistake."""

    status_code = 422
    code = "idempotency_key_reused"

    def __init__(self, key: str, scope: str) -> None:
        route = scope.split("|")[0]  # without the API key's name (services/idempotency.py)
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different {route} request "
            "(the body differs); use a new key for a new request"
        )


class RepeatedFailure(ServiceError):
    """A repeat (same Idempotency-Key) of a turn that failed: the original's error again.

    The stored turn keeps only its error code; the status is that code's class's.
    """

    def __init__(self, code: str) -> None:
        super().__init__(
            f"the original request with this Idempotency-Key failed ({code}); its text so "
            "far is kept; send a new key to try again"
        )
        self.code = code
        self.status_code = _status_of(code)


def _status_of(code: str) -> int:
    pending: list[type[ServiceError]] = [ServiceError]
    while pending:
        kind = pending.pop()
        if kind.code == code:
            return kind.status_code
        pending.extend(kind.__subclasses__())
    return ServiceError.status_code


class TurnInProgress(ServiceError):
    """One generation at a time per session: the client can follow or stop that one."""

    status_code = 409
    code = "turn_in_progress"

    def __init__(self, session_id: str, message_id: str) -> None:
        super().__init__(
            f"Session {session_id} is already generating message {message_id}; "
            "follow it or stop it first"
        )
        self.message_id = message_id


class TurnInterrupted(ServiceError):
    """The service shut down (or died) while generating; the text so far is kept."""

    status_code = 503
    code = "interrupted"

    def __init__(self) -> None:
        super().__init__("the service stopped during this reply; the text so far is kept")


class ShuttingDown(ServiceError):
    """The process is draining after SIGTERM: no new work; another worker or the
    restarted service will take it (services/drain.py)."""

    status_code = 503
    code = "shutting_down"

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            "the service is shutting down and takes no new requests; "
            f"retry in {retry_after:.0f} s (another instance may answer sooner)"
        )
        self.retry_after = retry_after


class Unauthenticated(ServiceError):
    """No usable API key: RFC 6750 asks for a WWW-Authenticate challenge naming why."""

    status_code = 401
    code = "unauthenticated"
    challenge = 'Bearer realm="chat-backend"'

    def __init__(self, message: str = "send an API key: Authorization: Bearer <key>") -> None:
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.challenge}


class InvalidApiKey(Unauthenticated):
    code = "invalid_api_key"
    challenge = 'Bearer realm="chat-backend", error="invalid_token"'

    def __init__(self) -> None:
        super().__init__("the API key is not valid")


class ApiKeyRevoked(InvalidApiKey):
    code = "api_key_revoked"

    def __init__(self) -> None:
        ServiceError.__init__(self, "the API key has been revoked")


class AdminRequired(ServiceError):
    status_code = 403
    code = "admin_required"

    def __init__(self) -> None:
        super().__init__("this needs an admin key (python main.py keys create --admin)")


class KeyNameTaken(ServiceError):
    status_code = 409
    code = "key_name_taken"

    def __init__(self, name: str) -> None:
        super().__init__(f"a live key named {name!r} exists; revoke it first")


class RateLimited(ServiceError):
    """Too many requests from one key within the RATE_LIMIT period."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, limit: str, retry_after: float) -> None:
        super().__init__(
            f"over this key's rate limit of {limit} (RATE_LIMIT); "
            f"retry in {max(1, math.ceil(retry_after))} s"
        )
        self.retry_after = retry_after


class TooManyStreams(RateLimited):
    """The key already has its RATE_LIMIT_CONCURRENT_STREAMS replies generating."""

    code = "too_many_streams"
    RETRY_SECONDS = 2.0

    def __init__(self, limit: int) -> None:
        ServiceError.__init__(
            self,
            f"this key already has {limit} replies being generated "
            "(RATE_LIMIT_CONCURRENT_STREAMS); wait for one to end",
        )
        self.retry_after = self.RETRY_SECONDS


class InvalidSearch(ServiceError):
    """A search or list query that cannot be run (no words, too long, a bad filter)."""

    status_code = 422
    code = "invalid_search"


class InvalidImport(ServiceError):
    """An import file of which nothing can go in; the message says why."""

    status_code = 422
    code = "invalid_import"
