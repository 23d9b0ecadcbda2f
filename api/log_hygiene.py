"""Keep message text and keys out of the logs.

Keys come in the Authorization header, which nothing logs. What else could carry a
secret or a message is the access log's request line: GET /api/chat/stream takes
the message in its query string, and browsers send `access_token` there. So
uvicorn's request lines show paths without query strings, unless LOG_CONTENT=true; even then
`access_token` is masked. And libraries that log whole payloads at DEBUG (every
SSE chunk, every SQL call) are held at INFO unless LOG_CONTENT=true, so LOG_LEVEL=DEBUG
stays free of conversations.
"""

from __future__ import annotations

import logging
import re

PAYLOAD_LOGGERS = ("aiosqlite", "websockets")
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")  # the WebSocket lines: uvicorn.error
TOKEN_IN_QUERY = re.compile(r"(access_token=)[^&\s]*", re.IGNORECASE)
MASK = "***"


def clean_target(target: str, log_content: bool) -> str:
    """A request target fit for the log."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    if not log_content:
        return f"{path}?{MASK}"
    return f"{path}?{TOKEN_IN_QUERY.sub(lambda m: m.group(1) + MASK, query)}"


class RequestLineFilter(logging.Filter):
    """Rewrites the request target in uvicorn's records: the access log's
    (client, method, target, version, status) and the WebSocket handshake lines."""

    def __init__(self, log_content: bool) -> None:
        super().__init__()
        self.log_content = log_content

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                clean_target(arg, self.log_content)
                if isinstance(arg, str) and arg.startswith("/")
                else arg
                for arg in record.args
            )
        return True


def install_log_hygiene(log_content: bool) -> None:
    for name in PAYLOAD_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.NOTSET if log_content else logging.INFO)
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        logger.filters = [f for f in logger.filters if not isinstance(f, RequestLineFilter)]
        logger.addFilter(RequestLineFilter(log_content))
