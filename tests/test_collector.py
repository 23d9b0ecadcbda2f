"""Full garbage collections on a clock (services/collector.py): the startup objects
frozen, Python's own full-collection trigger off, cyclic garbage in the oldest
generation still freed by the clock, and Python's settings back afterwards."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from services.collector import NEVER, full_collections_every

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Cycle:
    def __init__(self) -> None:
        self.itself = self


def old_cyclic_garbage() -> weakref.ref[Cycle]:
    """A cycle that only a full collection can free: it survived into the oldest
    generation before it became garbage."""
    cycle = Cycle()
    gc.collect(1)  # still referenced: moved into generation 2
    return weakref.ref(cycle)


async def test_full_collections_run_on_the_clock_and_only_there() -> None:
    before = gc.get_threshold()
    with full_collections_every(0.3):
        assert gc.get_threshold() == (before[0], before[1], NEVER)
        assert gc.get_freeze_count() > 0
        freed = old_cyclic_garbage()
        for _ in range(20):  # young collections alone never reach it
            gc.collect(1)
        assert freed() is not None
        await asyncio.sleep(0.6)
        assert freed() is None, "the clock's full collection did not run"
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_zero_leaves_python_s_schedule_alone() -> None:
    before = gc.get_threshold()
    with full_collections_every(0) as clock:
        assert clock is None
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
