"""When Python's cycle collector runs: full collections on a clock, not on growth.

CPython starts a full (generation 2) collection whenever the objects that survived
the young collections have grown by a quarter. It scans every tracked object with the
event loop stopped: with 1,000 streams open that was ~400,000 objects and 130-230 ms,
and while the streams were opening it fell every second or two (bench/run.py
slow_streams), so every open stream's next token waited for it. Here:

- the objects alive once the service has started (modules, the app, the schema,
  SQLAlchemy's caches) are frozen: no collection scans them again;
- the young generations collect as before: most cyclic garbage dies young;
- a full collection runs every GC_FULL_COLLECTION_SECONDS instead, so one stream
  meets at most one such pause in that time (fewer than 1 token in 100 at a token
  every 100 ms and the default 60 s).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
# Generation 2's own trigger, out of reach: the clock below collects instead.
NEVER = 1 << 30


@contextmanager
def full_collections_every(seconds: float) -> Iterator[asyncio.Task[None] | None]:
    """While inside: the startup objects frozen and full collections every `seconds`
    (0: Python's own schedule, untouched). Restores Python's settings on the way out."""
    if seconds <= 0:
        yield None
        return
    young, middle, old = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, middle, NEVER)
    task = asyncio.create_task(_collect_forever(seconds), name="full collections")
    try:
        yield task
    finally:
        task.cancel()
        gc.set_threshold(young, middle, old)
        gc.unfreeze()


async def _collect_forever(seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        found = gc.collect()
        log.debug("full collection: %d unreachable objects", found)
