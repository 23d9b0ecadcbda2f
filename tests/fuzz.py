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
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Err

ROOT = Path(__file__).resolve().parent.parent
ST = Path(sys.executable).with_name("st")
CONFIG = ROOT / "schemathesis.toml"


@dataclass
class FuzzRun:
    returncode: int
    cases: int
    failures: int
    operations: int
    output: str

    def report(self) -> str:
        """What a failed run found: its failures whole (each with its status, body and
        curl line), then the summary; the output's tail alone can hide the first ones."""
        start = self.output.find("= FAILURES =")
        warnings = self.output.find("= WARNINGS =")
        failures = self.output[start:warnings] if 0 <= start < warnings else ""
        return failures + self.output[-3000:]


def run_schemathesis(
    base_url: str, max_examples: int, workers: int = 1, api_key: str | None = None
) -> FuzzRun:
    """`api_key`: sent as a Bearer token on every request; the `ignored_auth` check
    then also sends requests without it and with a wrong one, expecting 401."""
    command = [
        str(ST),
        "--config-file",
        str(CONFIG),
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


def accepted_statuses(openapi: dict[str, Any]) -> dict[str, list[str]]:
    """What schemathesis.toml lets each operation answer a schema-valid request with
    (`positive_data_acceptance`), by "METHOD /path", as Schemathesis itself reads it."""
    config = SchemathesisConfig.from_path(CONFIG).projects.get_default()
    schema = schemathesis.openapi.from_dict(openapi)
    statuses = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        checks = config.operations.get_for_operation(operation).checks
        statuses[operation.label] = list(checks.positive_data_acceptance.expected_statuses)
    return statuses


def configured_names() -> list[str]:
    """Every operation schemathesis.toml names in an `include-name`."""
    blocks = tomllib.loads(CONFIG.read_text())["operations"]
    return [name for block in blocks for name in block["include-name"]]
