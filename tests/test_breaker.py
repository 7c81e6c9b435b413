"""The one circuit breaker (Wix and the Redis tier both go through it), on a movable clock."""

from __future__ import annotations

from wixapp.breaker import BreakerState, CircuitBreaker
from wixapp.testing import MovableClock


def test_a_probe_that_never_reports_does_not_block_the_next_interval() -> None:
    clock = MovableClock()
    breaker = CircuitBreaker(failures=1, reset_after=2.0, clock=clock)
    breaker.failed("timeout")
    clock.now += 2.0
    assert breaker.allow()  # the probe goes out... and is never heard of again
    assert not breaker.allow()
    clock.now += 2.0
    assert breaker.allow()


def test_a_probe_that_says_nothing_lets_the_next_call_probe_at_once() -> None:
    clock = MovableClock()
    breaker = CircuitBreaker(failures=1, reset_after=2.0, clock=clock)
    breaker.failed("503")
    clock.now += 2.0
    assert breaker.allow()
    breaker.released()  # a 4xx: no news about the dependency's health
    assert breaker.allow()


def test_retry_after_counts_down_to_the_next_probe() -> None:
    clock = MovableClock()
    breaker = CircuitBreaker(failures=2, reset_after=5.0, clock=clock)
    breaker.failed()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.retry_after == 0.0
    breaker.failed()
    clock.now += 1.5
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after == 3.5
    clock.now += 3.5
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED
