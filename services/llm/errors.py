"""The LLM server failing, as the client sees it (services/errors.py has the rest).

LLMError
├── LLMUnavailable         503  llm_unavailable
├── LLMTimeout             504  llm_timeout
├── LLMUpstreamError       502  llm_upstream_error
│   └── LLMOverloaded      503  llm_overloaded (429/503 upstream; Retry-After passed on)
├── LLMNoResponse          502  llm_no_response (closed without answering)
└── LLMBadReply            502  llm_bad_reply
    ├── LLMTruncated       502  llm_truncated
    └── LLMEmptyReply      502  llm_empty_reply
"""

from __future__ import annotations

from services.errors import ServiceError


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


class LLMOverloaded(LLMUpstreamError):
    """429 or 503 from the LLM server, still so after our retries: busy, try later.

    The server's Retry-After, when it sent one, is passed on to the client.
    """

    status_code = 503
    code = "llm_overloaded"

    def __init__(self, upstream_status: int, message: str = "", retry_after: float | None = None):
        super().__init__(upstream_status, message)
        self.retry_after = retry_after


class LLMNoResponse(LLMError):
    """The LLM server took the request and closed the connection without a byte of
    answer: a kept-alive connection it closed as we reused it, a proxy's reset.

    Nothing can have reached the client, so it is retried like a 503, and it counts
    against the server for the circuit breaker.
    """

    code = "llm_no_response"

    def __init__(self) -> None:
        super().__init__("LLM server closed the connection without answering")


class LLMBadReply(LLMError):
    code = "llm_bad_reply"


class LLMTruncated(LLMBadReply):
    """The reply stopped without saying why (no finish_reason): it is not a whole reply."""

    code = "llm_truncated"


class LLMEmptyReply(LLMBadReply):
    """The reply ended well but with no text at all: nothing to show or to keep."""

    code = "llm_empty_reply"

    def __init__(self) -> None:
        super().__init__("LLM server sent an empty reply")
