"""kill -9 while clients stream turns, again and again: nothing acknowledged is lost,
the database stays intact, nothing is left `streaming` (tests/crash.py). The full run,
about 100 turns, is bench/kill9.py."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.conftest import App, FakeLLM
from tests.crash import kill_rounds

pytestmark = pytest.mark.slow


def test_kill_9_during_streamed_turns_loses_nothing_acknowledged(
    make_app: Any, fake_llm: FakeLLM
) -> None:
    app: App = make_app(checkpoint_seconds=0.05, orphan_after_seconds=1)
    report = kill_rounds(app, fake_llm, kills=3, clients=4, rng=random.Random(6))
    print(report.summary())
    assert report.kills == 3
    assert report.acknowledged >= 3 * 4  # every client had a turn under way each time
    assert report.integrity == ["ok"] * 3
    assert report.lost_messages == []
    assert report.wrong_replies == []
    assert report.left_streaming == 0
    assert report.interrupted > 0  # the kills did land mid-reply
