"""Settings from a framework's own configuration (Flask's ``app.config``, Django's settings).

The names are the environment's (``WIX_APP_ID``, ``WIXAPP_CORS_ORIGINS``, …): a value there
wins, the environment fills in the rest, and a missing or bad one is the same one-line
``ConfigurationError`` naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wixapp.config import Settings, load_settings

__all__ = ["SETTING_NAMES", "settings_from"]

SETTING_NAMES = frozenset(field.alias for field in Settings.model_fields.values() if field.alias)


def settings_from(config: Mapping[str, Any]) -> Settings:
    """``Settings`` from the entries of ``config`` named like wixapp's variables."""
    return load_settings(**{name: value for name, value in config.items() if name in SETTING_NAMES})
