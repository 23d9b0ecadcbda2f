"""Whether the address the service is to listen on is free, asked before any work.

`python main.py` and gunicorn's master would otherwise start the local model and
migrate the database before their bind fails, and then end in a traceback (uvicorn)
or five retries a second apart (gunicorn). Asking first, they stop at once with
one line naming the port.
"""

from __future__ import annotations

import errno
import socket


def address_in_use(host: str, port: int) -> bool:
    """True when another process listens on host:port.

    Bound as uvicorn binds, with SO_REUSEADDR: a port whose old connections linger
    in TIME_WAIT counts as free, as it is for the server. Port 0 (any) is never in use.
    """
    if port == 0:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return exc.errno == errno.EADDRINUSE
    return False


def in_use_message(host: str, port: int) -> str:
    return (
        f"Cannot listen on {host}:{port}: the address is already in use (another instance"
        " of this service?). Stop it, or set PORT (or gunicorn's --bind) to a free port."
    )
