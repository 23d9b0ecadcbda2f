"""Schemathesis against the real service and fake LLM, every check on, a bounded
budget: no 5xx, every response as documented (status, headers, content type, body
schema), schema-breaking requests refused, schema-valid ones accepted, no route open without
a key."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import FakeLLM
from tests.fuzz import run_schemathesis

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25


def test_schemathesis_finds_nothing(make_app: Any, fake_llm: FakeLLM) -> None:
    """With AUTH_MODE=api_key and an admin key: every route also checked to refuse
    requests without a key or with a wrong one (ignored_auth)."""
    app = make_app(log_level="INFO", auth_mode="api_key", rate_limit="")
    run = run_schemathesis(app.url, MAX_EXAMPLES, api_key=app.create_key("fuzz", admin=True))
    print(f"schemathesis: {run.operations} operations, {run.cases} cases, {run.failures} failures")
    assert run.returncode == 0, run.report()
    assert run.operations >= 49  # every route (tests/test_openapi.py EXPECTED_ROUTES)
    assert run.cases >= 31 * MAX_EXAMPLES  # the budget was spent, not skipped
    log = app.output()
    assert "Traceback" not in log
    assert '" 500 ' not in log
