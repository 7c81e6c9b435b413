"""Test helpers for wixapp apps. The pytest fixtures live in :mod:`wixapp.testing.plugin`
(registered through the ``pytest11`` entry point); nothing here imports pytest, so the demo
and users' scripts can use these helpers on a plain install.

The helpers load on first use: pytest imports this package (for the plugin) in every run
wherever wixapp is installed, and most runs never touch the emulator.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wixapp.testing.backend import InstallFactory, TokenFactory, open_backend
    from wixapp.testing.clock import EmulatorClock, MovableClock
    from wixapp.testing.loopback import LOOPBACK, port_or_free, serving
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

_HOMES = {
    "EMULATOR_BASE_URL": "settings",
    "LOOPBACK": "loopback",
    "EmulatorClock": "clock",
    "InstallFactory": "backend",
    "MovableClock": "clock",
    "TokenFactory": "backend",
    "open_backend": "backend",
    "port_or_free": "loopback",
    "serving": "loopback",
    "settings_for_emulator": "settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
