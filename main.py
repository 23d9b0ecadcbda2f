"""The entry point. `python main.py` serves the application (application.py);
`python main.py backup PATH`, `keys ...` and `copy-database --to URL` run an
operator's command (cli.py) without loading the web application, which takes a
second of a small machine's time; `uvicorn main:app` and `gunicorn main:app` find
the app here.
"""

from __future__ import annotations

import sys
from typing import Any

COMMANDS = ("backup", "keys", "copy-database")


def __getattr__(name: str) -> Any:
    """`main.app` and `main.create_app`, loaded on first use (PEP 562)."""
    if name in ("app", "create_app"):
        import application

        return getattr(application, name)
    raise AttributeError(f"module 'main' has no attribute {name!r}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        from cli import run_command

        raise SystemExit(run_command(sys.argv[1], sys.argv[2:]))
    from application import serve

    serve()
