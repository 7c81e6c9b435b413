"""Stopping a background task of wixapp's own (a lock's keeper, a periodic flush, a sweep)."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has finished; an error it raised is raised here.

    Unlike ``task.cancel()`` then ``await task`` under ``suppress(CancelledError)``, a
    cancellation of the caller while it waits is not taken for the task's own: it propagates.
    """
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.result()
