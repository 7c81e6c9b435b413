"""A circuit breaker, so a Wix outage costs one quick 503 per request, not a timeout each."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from wixapp.errors import UpstreamUnavailableError

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; after ``reset_after`` seconds lets one
    probe through (half-open); the probe's success closes it, its failure opens it again."""

    def __init__(
        self,
        *,
        failures: int = 5,
        reset_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures
        self._reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self._reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def admit(self) -> None:
        """Raise UpstreamUnavailableError unless a call may go out now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        raise UpstreamUnavailableError(
            "Wix is failing; wixapp paused calls to it for a few seconds. Retry later.",
            code="circuit_open",
            retry_after=self._remaining(),
        )

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failed(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._probing = False

    def released(self) -> None:
        """The admitted call ended without telling us anything about Wix (a 4xx, say)."""
        self._probing = False

    def _remaining(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(1.0, self._reset_after - (self._clock() - self._opened_at))
