"""The service's error tree. Each error carries its HTTP status and stable code.

Services raise these; api/errors.py renders them once, as HTTP bodies or, after the
first SSE byte, as `error` events with the same code and message.

    ServiceError
    ├── NotFound                   404  session_not_found / message_not_found
    ├── InvalidCursor              422  invalid_cursor
    ├── MessageTooLong             413  message_too_long
    ├── DatabaseUnavailable        503  database_unavailable
    ├── ContextTooLong             422  context_too_long
    ├── TurnInProgress             409  turn_in_progress (names the streaming message_id)
    ├── TurnInterrupted            503  interrupted (the service stopped mid-reply)
    └── LLMError
        ├── LLMUnavailable         503  llm_unavailable
        ├── LLMTimeout             504  llm_timeout
        ├── LLMUpstreamError       502  llm_upstream_error
        └── LLMBadReply            502  llm_bad_reply
            └── LLMTruncated       502  llm_truncated
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a client may see; message is safe to show."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


class MessageTooLong(ServiceError):
    status_code = 413
    code = "message_too_long"

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"message has {length} characters; the limit is {limit}")


class DatabaseUnavailable(ServiceError):
    status_code = 503
    code = "database_unavailable"


class LLMError(ServiceError):
    """The LLM server could not produce a good reply."""

    status_code = 502
    code = "llm_error"


class LLMUnavailable(LLMError):
    status_code = 503
    code = "llm_unavailable"

    def __init__(self, message: str = "LLM server not available") -> None:
        super().__init__(message)


class LLMTimeout(LLMError):
    status_code = 504
    code = "llm_timeout"


class LLMUpstreamError(LLMError):
    code = "llm_upstream_error"

    def __init__(self, upstream_status: int, message: str = "") -> None:
        suffix = f": {message}" if message else ""
        super().__init__(f"LLM server answered HTTP {upstream_status}{suffix}")
        self.upstream_status = upstream_status


class LLMBadReply(LLMError):
    code = "llm_bad_reply"


class LLMTruncated(LLMBadReply):
    """The reply stopped without saying why (no finish_reason): it is not a whole reply."""

    code = "llm_truncated"


class ContextTooLong(ServiceError):
    """The prompt cannot fit the model's context, even with the window cut to nothing."""

    status_code = 422
    code = "context_too_long"


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
