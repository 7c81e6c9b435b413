"""Stopping a background task of wixapp's own (a lock's keeper, a periodic flush, a sweep,
the Redis listener)."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["RECANCEL_SECONDS", "cancel_and_wait"]

RECANCEL_SECONDS = 0.05
"""How often a task that has not ended is cancelled again. On Python 3.11, redis-py 8 sends
each command under ``asyncio.wait_for``, which returns the inner result when a cancellation
lands as the send finishes (CPython gh-86296, fixed by 3.12's rewrite of ``wait_for``): the
command then goes on and returns its value (``bench/redis_cancel.py``: every GET cancelled in
that window, none with redis-py 7 or on Python 3.12). So one cancel is not enough for a task
that talks to Redis. wixapp's own code uses ``asyncio.timeout`` (ruff bans ``wait_for``)."""


async def cancel_and_wait(task: asyncio.Future[Any], *, every: float = RECANCEL_SECONDS) -> None:
    """Cancel ``task``, again every ``every`` seconds until it has ended, and wait for it;
    an error it raised is raised here.

    Unlike ``task.cancel()`` then ``await task`` under ``suppress(CancelledError)``, a
    cancellation of the caller while it waits is not taken for the task's own: it propagates.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=every)
    if not task.cancelled():
        task.result()
