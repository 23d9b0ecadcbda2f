"""Schemathesis against a running service: every check, its figures parsed.

`st run` reads the live /openapi.json and sends schema-valid and schema-breaking
requests to every operation, in all its phases (examples, coverage, fuzzing, stateful
sequences following the links it infers). schemathesis.toml, at the repository root,
holds the few documented exceptions. Used by tests/test_fuzz.py (a bounded budget)
and bench/fuzz.py (a longer run).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ST = Path(sys.executable).with_name("st")


@dataclass
class FuzzRun:
    returncode: int
    cases: int
    failures: int
    operations: int
    output: str


def run_schemathesis(
    base_url: str, max_examples: int, workers: int = 1, api_key: str | None = None
) -> FuzzRun:
    """`api_key`: sent as a Bearer token on every request; the `ignored_auth` check
    then also sends requests without it and with a wrong one, expecting 401."""
    command = [
        str(ST),
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        # "Created resource not found": a create repeated with its Idempotency-Key
        # answers the original session as created, even when it was deleted since (the
        # stateful phase deletes it in between); tests/test_sessions.py checks creates.
        "--exclude-checks",
        "ensure_resource_availability",
        "--max-examples",
        str(max_examples),
        "--workers",
        str(workers),
        "--request-timeout",
        "20",
        *(["--header", f"Authorization: Bearer {api_key}"] if api_key else []),
    ]
    with tempfile.TemporaryDirectory() as scratch:  # its cache (.schemathesis/) goes here
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=scratch)
    output = done.stdout + done.stderr
    return FuzzRun(
        returncode=done.returncode,
        cases=_figure(r"(\d+) generated", output),
        failures=_figure(r"found (\d+) unique failure", output),
        operations=_figure(r"Tested: (\d+)", output),
        output=output,
    )


def _figure(pattern: str, output: str) -> int:
    found = re.search(pattern, output)
    return int(found.group(1)) if found else 0
