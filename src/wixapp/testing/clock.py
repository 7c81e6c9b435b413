"""Clocks that tests move, so no test sleeps through real time to see time pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wixapp.emulator import EmulatorState

__all__ = ["EmulatorClock", "MovableClock"]


class MovableClock:
    """``clock()`` is the time now (seconds); ``clock.advance(s)`` or ``clock.now = t``
    moves it. For anything that takes ``clock=``: caches, breakers, budgets, the store."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class EmulatorClock:
    """The emulator's movable clock, to hand to the backend under test (``create_app(...,
    clock=wix_clock)``): tokens expire, webhooks are retried and breakers reset on one time,
    which ``advance`` moves for all of them at once."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    def __call__(self) -> float:
        return self._state.now()

    def advance(self, seconds: float) -> float:
        return self._state.advance_clock(seconds)
