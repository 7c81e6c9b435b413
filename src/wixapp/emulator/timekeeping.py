"""The emulator's clock, which tests move forward, and Wix's timestamp format."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from wixapp.emulator.wix_errors import EmulatorError

__all__ = ["Clock", "wix_time"]


class Clock:
    """Wall time plus an offset that only moves forward, so tokens can be aged at will."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise EmulatorError("The emulator clock only moves forward; pass seconds >= 0.")
        self.offset += seconds
        return self.now()


def wix_time(timestamp: float) -> str:
    """Wix's timestamp format: ``YYYY-MM-DDThh:mm:ss.sssZ`` (billing, webhooks, signDate)."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
