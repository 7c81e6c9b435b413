"""The lifecycle events the emulated Wix emits, and who hears them (the webhook deliverer)."""

from __future__ import annotations

from collections.abc import Callable

from wixapp.emulator.records import LifecycleEvent

__all__ = ["EventLog", "LifecycleListener"]

LifecycleListener = Callable[[LifecycleEvent], None]


class EventLog:
    def __init__(self) -> None:
        self.events: list[LifecycleEvent] = []
        self._listeners: list[LifecycleListener] = []

    def subscribe(self, listener: LifecycleListener) -> Callable[[], None]:
        """Call ``listener`` on every lifecycle event; returns the unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: LifecycleEvent) -> None:
        self.events.append(event)
        for listener in list(self._listeners):
            listener(event)

    def clear(self) -> None:
        """Forget the events; listeners stay subscribed: they are wiring, not state."""
        self.events.clear()
