"""Schemathesis against the real service and fake LLM, every check on, a bounded
budget: no 5xx, every response as documented (status, headers, content type, body
schema), schema-breaking requests refused, schema-valid ones accepted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import FakeLLM
from tests.fuzz import run_schemathesis

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25


def test_schemathesis_finds_nothing(make_app: Any, fake_llm: FakeLLM) -> None:
    app = make_app(log_level="INFO")
    run = run_schemathesis(app.url, MAX_EXAMPLES)
    print(f"schemathesis: {run.operations} operations, {run.cases} cases, {run.failures} failures")
    assert run.returncode == 0, run.output[-6000:]
    assert run.operations >= 16
    assert run.cases >= 16 * MAX_EXAMPLES  # the budget was spent, not skipped
    log = app.output()
    assert "Traceback" not in log
    assert '" 500 ' not in log
