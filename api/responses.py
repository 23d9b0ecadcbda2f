"""OpenAPI documentation of error responses, shared by the routers."""

from __future__ import annotations

from typing import Any

from models.errors import ErrorBody

REQUEST_ID_EXAMPLE = "5f0c6e0a9b7d4c1e8a2b3c4d5e6f7a8b"


def error_doc(status: int, description: str, detail: str, code: str) -> dict[int | str, Any]:
    return error_examples(status, description, {code: detail})


def error_examples(
    status: int, description: str, details_by_code: dict[str, str]
) -> dict[int | str, Any]:
    """One status that several error codes share, with an example of each."""
    examples = {
        code: {"value": {"detail": detail, "code": code, "request_id": REQUEST_ID_EXAMPLE}}
        for code, detail in details_by_code.items()
    }
    return {
        status: {
            "model": ErrorBody,
            "description": description,
            "content": {"application/json": {"examples": examples}},
        }
    }


SESSION_NOT_FOUND = error_doc(
    404,
    "Unknown, deleted or expired session",
    "Session 3f2b8c1e-... not found",
    "session_not_found",
)
MESSAGE_NOT_FOUND = error_doc(
    404,
    "Unknown message (for a stop, also a user message), or its session is gone;"
    " another key's message is exactly a missing one",
    "Message 9c1d2e3f-... not found",
    "message_not_found",
)
NO_CONTEXT_PLAN = error_doc(
    404,
    "Unknown message, or one without a context plan (a user message, or a reply stored"
    " before plans were kept)",
    "Message 9c1d2e3f-... has no context plan: only replies stored since plans were kept have one",
    "context_plan_not_found",
)
VALIDATION = error_doc(
    422,
    "The request names a bad field",
    "temperature: Input should be less than or equal to 2",
    "validation_error",
)
BAD_CURSOR = error_doc(
    422,
    "Malformed or foreign cursor",
    "cursor 'x' is not one this service handed out",
    "invalid_cursor",
)
LIST_ERRORS = error_examples(
    422,
    "A malformed or foreign cursor, a query with no words, a bad filter or limit",
    {
        "invalid_cursor": "cursor 'x' is not one this service handed out",
        "invalid_search": "q has no words to search for (letters or digits)",
        "validation_error": "sort: Input should be 'last_accessed', 'created_at' or 'title'",
    },
)
IMPORT_ERRORS = error_examples(
    422,
    "Nothing in the file can be imported (each conversation's reason is named)",
    {
        "invalid_import": "nothing could be imported: conversation 0 (id 'x'): `mapping` is"
        " missing or empty",
    },
)
PATH_UNPROCESSABLE = error_examples(
    422,
    "A `before` or `leaf` that is no message of the session, or a bad limit",
    {
        "invalid_cursor": "cursor 'x' is not one this service handed out",
        "invalid_leaf": "leaf 'x' is no message of this session",
        "validation_error": "limit: Input should be less than or equal to 500",
    },
)
NOT_JSON = error_doc(
    415,
    "Body is not declared as JSON",
    "Content-Type must be application/json, got text/plain",
    "unsupported_media_type",
)
TOO_LARGE_EXAMPLE = {
    "payload_too_large": "request body over MAX_BODY_BYTES (1048576 bytes); nothing was stored"
}
UNPARSEABLE_BODY = (
    "The body could not be parsed: not UTF-8, or JSON nested past the parser's depth,"
    " or an integer of thousands of digits"
)
UNPARSEABLE_EXAMPLE = {"bad_request": "There was an error parsing the body"}
BODY_ERRORS: dict[int | str, Any] = {
    **NOT_JSON,
    **error_examples(400, UNPARSEABLE_BODY, UNPARSEABLE_EXAMPLE),
    **error_examples(413, "Body over MAX_BODY_BYTES (refused unread)", TOO_LARGE_EXAMPLE),
}
UNAVAILABLE_EXAMPLES = {
    "database_unavailable": "Database unavailable: database or disk is full",
    "shutting_down": "the service is shutting down and takes no new requests; retry in 27 s"
    " (another instance may answer sooner)",
}
SERVICE_UNAVAILABLE = error_examples(
    503,
    "The database refuses writes (disk full, read-only; reads still work), or the service"
    " is draining after SIGTERM (with Retry-After)",
    UNAVAILABLE_EXAMPLES,
)
KEY_REUSED = {
    "idempotency_key_reused": "Idempotency-Key 'k1' was already used for a different chat"
    " request (the body differs); use a new key for a new request"
}
INVALID_PROFILE = {
    "invalid_profile": "profile_id: no profile 7a8b9c0d-... of yours",
}
CREATE_UNPROCESSABLE = error_examples(
    422,
    "A bad field, a profile_id not of the caller's profiles, or an Idempotency-Key"
    " already used with another body",
    {
        "validation_error": "metadata: Input should be a valid dictionary",
        **INVALID_PROFILE,
        **KEY_REUSED,
    },
)
UPDATE_UNPROCESSABLE = error_examples(
    422,
    "A bad field, or a profile_id not of the caller's profiles",
    {"validation_error": "metadata: Input should be a valid dictionary", **INVALID_PROFILE},
)
PROFILE_NOT_FOUND = error_doc(
    404,
    "Unknown or deleted profile; another key's profile is exactly a missing one",
    "Profile 7a8b9c0d-... not found",
    "profile_not_found",
)
PROFILE_NAME_TAKEN = error_doc(
    409,
    "The caller already has a profile of that name",
    "You already have a profile named 'travel-planner': names are unique per key",
    "profile_name_taken",
)
CONTEXT_TOO_LONG = {
    "context_too_long": "the message needs about 2400 tokens but the model's context"
    " (LLM_CONTEXT_TOKENS=2048) leaves 1760 beside the 256 kept for the reply:"
    " shorten it or lower max_new_tokens",
}
TRUNCATION_REFUSED = (
    "`truncation: disabled`, and the window would leave history out (nothing is stored)"
)
CONTEXT_LENGTH_EXCEEDED = {
    "context_length_exceeded": "the conversation does not fit the model's context with"
    " truncation disabled: older messages would be left out (budget 1760 tokens, at most"
    " 50 messages); send truncation: auto to let the window leave the oldest out"
}
# A turn's body (chat, regenerate): its 400 is the unparseable body, or `truncation:
# disabled` with a history that no longer fits whole.
TURN_BODY_ERRORS: dict[int | str, Any] = {
    **BODY_ERRORS,
    **error_examples(
        400,
        f"{UNPARSEABLE_BODY}; or {TRUNCATION_REFUSED}",
        {**UNPARSEABLE_EXAMPLE, **CONTEXT_LENGTH_EXCEEDED},
    ),
}
CHAT_UNPROCESSABLE = error_examples(
    422,
    "A bad field (parent_id and edit_of together, or either without session_id); a"
    " parent_id or edit_of that is no (user) message of the session; a message that"
    " cannot fit the model's context (LLM_CONTEXT_TOKENS) beside max_new_tokens, or"
    " that the LLM server found over its context; or an Idempotency-Key already used"
    " with another body",
    {
        **KEY_REUSED,
        "validation_error": "temperature: Input should be less than or equal to 2",
        "invalid_parent": "parent_id 'x' is no message of this session",
        "invalid_edit_of": "edit_of 'x' is no user message of this session",
        **CONTEXT_TOO_LONG,
    },
)
REGENERATE_UNPROCESSABLE = error_examples(
    422,
    "A bad field; a reply with no user message above it; a user message that no longer"
    " fits the model's context beside max_new_tokens; or an Idempotency-Key already"
    " used with another body",
    {
        **KEY_REUSED,
        "validation_error": "temperature: Input should be less than or equal to 2",
        "nothing_to_regenerate": "message 'x' has no user message above it to reply to",
        **CONTEXT_TOO_LONG,
    },
)
FORK_UNPROCESSABLE = error_examples(
    422,
    "A bad field; a message_id that is no message of the session; or an"
    " Idempotency-Key already used with another body",
    {
        **KEY_REUSED,
        "validation_error": "message_id: Field required",
        "invalid_message_id": "message_id 'x' is no message of this session",
    },
)
TURN_IN_PROGRESS: dict[int | str, Any] = {
    409: {
        "model": ErrorBody,
        "description": "The session is already generating a reply (one turn at a time)",
        "content": {
            "application/json": {
                "example": {
                    "detail": "Session 3f2b8c1e-... is already generating message 9c1d2e3f-...;"
                    " follow it or stop it first",
                    "code": "turn_in_progress",
                    "request_id": REQUEST_ID_EXAMPLE,
                    "message_id": "9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f",
                }
            }
        },
    }
}
TOO_LONG = error_examples(
    413,
    "Message over MAX_MESSAGE_CHARS, or body over MAX_BODY_BYTES",
    {"message_too_long": "message has 40000 characters; the limit is 32000", **TOO_LARGE_EXAMPLE},
)
LLM_ERRORS: dict[int | str, Any] = {
    **error_examples(
        502,
        "LLM server answered an error or closed the connection without answering (each"
        " after retries), or sent an unparseable reply, one with no finish_reason, or one"
        " with no text",
        {
            "llm_upstream_error": "LLM server answered HTTP 500: out of memory",
            "llm_no_response": "LLM server closed the connection without answering",
            "llm_bad_reply": "LLM stream ended without [DONE]",
            "llm_truncated": "LLM reply ended without a finish_reason: it is incomplete",
            "llm_empty_reply": "LLM server sent an empty reply",
        },
    ),
    **error_examples(
        503,
        "LLM server not reachable, or busy (429/503) after our retries (a busy server's"
        " Retry-After is passed on); the database refuses writes; or the service is"
        " draining after SIGTERM (with Retry-After)",
        {
            "llm_unavailable": "LLM server not available",
            "llm_overloaded": "LLM server answered HTTP 429: too many requests",
            **UNAVAILABLE_EXAMPLES,
        },
    ),
    **error_doc(
        504, "LLM server did not answer in time", "LLM server did not answer in time", "llm_timeout"
    ),
}
UNAUTHENTICATED = error_examples(
    401,
    "AUTH_MODE=api_key and no key, a bad key or a revoked one (with WWW-Authenticate)",
    {
        "unauthenticated": "send an API key: Authorization: Bearer <key>",
        "invalid_api_key": "the API key is not valid",
        "api_key_revoked": "the API key has been revoked",
    },
)
RATE_LIMITED = error_examples(
    429,
    "The key's requests per minute (RATE_LIMIT) or replies generating at"
    " once (RATE_LIMIT_CONCURRENT_STREAMS) are used up; Retry-After says when to retry",
    {
        "rate_limited": "over this key's rate limit of 600 per 1 minute (RATE_LIMIT);"
        " retry in 12 s",
        "too_many_streams": "this key already has 8 replies being generated"
        " (RATE_LIMIT_CONCURRENT_STREAMS); wait for one to end",
    },
)
AUTH_ERRORS: dict[int | str, Any] = {**UNAUTHENTICATED, **RATE_LIMITED}
# What every route over sessions and messages may answer besides its own errors.
# (Not the health routes: they answer for themselves, liveness never with a 503.)
ROUTER_ERRORS: dict[int | str, Any] = {**AUTH_ERRORS, **SERVICE_UNAVAILABLE}
# Errors that exist only with AUTH_MODE=api_key: without keys there is no caller to
# refuse, limit or find short of admin (api/auth.py drops them from the schema).
KEY_ONLY_STATUSES = ("401", "403", "429")
ADMIN_ONLY = error_doc(
    403,
    "The key is not an admin key",
    "this needs an admin key (python main.py keys create --admin)",
    "admin_required",
)
