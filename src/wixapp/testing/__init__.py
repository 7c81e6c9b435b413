"""Test helpers for wixapp apps. The pytest fixtures live in :mod:`wixapp.testing.plugin`
(registered through the ``pytest11`` entry point); nothing here imports pytest, so the demo
and users' scripts can use these helpers on a plain install."""

from wixapp.testing.backend import InstallFactory, TokenFactory, open_backend
from wixapp.testing.clock import EmulatorClock, MovableClock
from wixapp.testing.serving import LOOPBACK, port_or_free, serving
from wixapp.testing.settings import EMULATOR_BASE_URL, settings_for_emulator

__all__ = [
    "EMULATOR_BASE_URL",
    "LOOPBACK",
    "EmulatorClock",
    "InstallFactory",
    "MovableClock",
    "TokenFactory",
    "open_backend",
    "port_or_free",
    "serving",
    "settings_for_emulator",
]
