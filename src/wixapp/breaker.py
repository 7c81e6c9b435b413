"""One circuit breaker, for every dependency that can fail as a whole (Wix, Redis): while it
is down, a request costs one quick refusal instead of a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

__all__ = ["BreakerState", "CircuitBreaker", "StateHook"]

StateHook = Callable[[bool, str | None], None]
"""Told ``(up, reason)`` on every transition: once per outage, not once per request."""


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed while calls succeed. Opens after ``failures`` failures in a row with no success
    for ``grace`` seconds (a burst of slow answers from an overloaded host is no outage), or
    at once on certain evidence (``failed(certain=True)``: a lost connection).

    While open, one probe per interval goes through (half-open): the interval starts at
    ``reset_after`` and doubles after each failed probe up to ``max_reset_after``; a probe that
    never reports does not block the next interval's. A success closes the breaker.
    """

    def __init__(
        self,
        *,
        failures: int = 5,
        reset_after: float = 5.0,
        max_reset_after: float | None = None,
        grace: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: StateHook | None = None,
    ) -> None:
        self._threshold = failures
        self._reset_after = reset_after
        self._max_reset_after = max(reset_after, max_reset_after or reset_after)
        self._grace = grace
        self._clock = clock
        self._on_change = on_change
        self._failures = 0
        self._last_success = clock()
        self._open = False
        self._reason: str | None = None
        self._interval = reset_after
        self._probe_at = 0.0

    @property
    def state(self) -> BreakerState:
        if not self._open:
            return BreakerState.CLOSED
        return BreakerState.HALF_OPEN if self._clock() >= self._probe_at else BreakerState.OPEN

    @property
    def up(self) -> bool:
        return not self._open

    @property
    def reason(self) -> str | None:
        """Why it opened (the last failure's description); ``None`` while closed."""
        return self._reason

    @property
    def retry_after(self) -> float:
        """Seconds until the next probe may go (0 while closed)."""
        return max(0.0, self._probe_at - self._clock()) if self._open else 0.0

    def allow(self) -> bool:
        """Whether a call may go out now: always while closed; once per interval while open."""
        if not self._open:
            return True
        now = self._clock()
        if now < self._probe_at:
            return False
        self._probe_at = now + self._interval  # the next probe, should this one never report
        return True

    def succeeded(self) -> None:
        self._failures = 0
        self._last_success = self._clock()
        if self._open:
            self._open, self._reason, self._interval = False, None, self._reset_after
            self._notify()

    def failed(self, reason: str = "failing", *, certain: bool = False) -> None:
        self._failures += 1
        now = self._clock()
        if self._open:  # a failed probe: wait longer before the next one
            self._reason = reason
            self._interval = min(self._max_reset_after, self._interval * 2)
            self._probe_at = now + self._interval
            return
        persistent = self._failures >= self._threshold and now - self._last_success >= self._grace
        if certain or persistent:
            self._open, self._reason, self._interval = True, reason, self._reset_after
            self._probe_at = now + self._interval
            self._notify()

    def released(self) -> None:
        """An admitted call ended saying nothing about the dependency's health (a 4xx, a
        cancellation): while open, the next call may probe at once."""
        if self._open:
            self._probe_at = min(self._probe_at, self._clock())

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change(not self._open, self._reason)
