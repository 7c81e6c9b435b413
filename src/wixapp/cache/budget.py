"""How long one call to the shared tier may take of a request's budget, counting only the
time the event loop was free to hear the reply.

Under a burst of requests a worker's event loop runs late: a reply that arrived in time is
read only when the loop gets to it. Timing calls by the wall clock would read that lag as a
slow Redis (cutting calls, opening the circuit, sending flight followers to Wix themselves).
So a timer ticks every few ms while the call runs; a tick that fires late shows the loop was
busy elsewhere, and that lateness is not the call's. Nor is the wait for one of the
worker's pooled connections (calls queue for one under a burst): :func:`not_the_calls`.

A request's budget also grows with the calls this worker has at Redis beside it
(:func:`stretched`): Redis answers them one after another, and under a burst on few cores it
waits for the CPU like the workers do; a reply late for that is no slow Redis. On a quiet
worker the budget is what was set.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["CallBudget", "not_the_calls", "stretched"]

_running: ContextVar[CallBudget | None] = ContextVar("wixapp_call_budget", default=None)


QUEUE_SHARE = 1  # each call beside a request adds one budget to it


def stretched(allowed: float, beside: int) -> float:
    """A request's budget with ``beside`` other calls of this worker at Redis."""
    return allowed * (1 + beside / QUEUE_SHARE)


@contextlib.contextmanager
def not_the_calls() -> Iterator[None]:
    """Time inside is not charged to the running call's budget (if any), nor cut."""
    budget = _running.get()
    if budget is None:
        yield
        return
    budget.pause()
    try:
        yield
    finally:
        budget.resume()


class CallBudget:
    """Cuts one call (moves its ``timeout`` to now) at the first tick on time after the call
    has used ``allowed`` seconds of loop time; ``used`` excludes the loop's lateness."""

    __slots__ = (
        "_allowed",
        "_due",
        "_handle",
        "_lag",
        "_loop",
        "_paused_at",
        "_running",
        "_start",
        "_step",
        "_stopped_at",
        "_timeout",
        "_tolerance",
        "cut",
    )

    def __init__(
        self,
        timeout: asyncio.Timeout,
        allowed: float,
        *,
        step: float = 0.005,
        tolerance: float = 0.002,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._allowed = allowed
        self._step = step
        self._tolerance = tolerance  # a tick this late is on time (timers' granularity)
        self._start = self._loop.time()
        self._stopped_at: float | None = None
        self._lag = 0.0
        self.cut = False
        self._paused_at: float | None = None
        self._handle = self._schedule(self._start)
        self._running = _running.set(self)

    @property
    def used(self) -> float:
        """Seconds of the call so far (or until :meth:`stop`), less the loop's lateness."""
        end = self._stopped_at if self._stopped_at is not None else self._loop.time()
        return end - self._start - self._lag

    def stop(self) -> float:
        """The call is over: stop ticking; returns :attr:`used`."""
        self._handle.cancel()
        if self._stopped_at is None:
            _running.reset(self._running)
            self._stopped_at = self._loop.time()
            if not self.cut:  # a tick overdue: the reply waited on the loop
                self._count_lateness(self._stopped_at)
        return self.used

    def pause(self) -> None:
        self._handle.cancel()
        self._paused_at = self._loop.time()

    def resume(self) -> None:
        if self._paused_at is None or self._stopped_at is not None:
            return
        now = self._loop.time()
        self._lag += now - self._paused_at
        self._paused_at = None
        self._handle = self._schedule(now)

    def _schedule(self, now: float) -> asyncio.TimerHandle:
        self._due = now + max(0.0, min(self._step, self._allowed - self.used))
        return self._loop.call_at(self._due, self._tick)

    def _count_lateness(self, now: float) -> bool:
        """Whether the tick due is late at ``now``; if so the loop was busy elsewhere, and
        that time is not the call's."""
        late = max(0.0, now - self._due)
        self._lag += late  # all of it, however small: small delays add up under a burst
        return late > self._tolerance

    def _tick(self) -> None:
        now = self._loop.time()
        if not self._count_lateness(now) and self.used >= self._allowed:
            self.cut = True
            self._timeout.reschedule(now)
            return
        self._handle = self._schedule(now)
