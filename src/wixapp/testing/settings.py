"""Settings that point a wixapp backend at the emulator instead of Wix."""

from __future__ import annotations

from typing import Any

from wixapp.config import Settings
from wixapp.emulator import EMULATOR_BASE_URL, RegisteredApp

__all__ = ["EMULATOR_BASE_URL", "settings_for_emulator"]


def settings_for_emulator(
    app: RegisteredApp, *, database_url: str, base_url: str = EMULATOR_BASE_URL, **extra: Any
) -> Settings:
    """Settings for a backend that talks to the emulator as the given app."""
    return Settings(
        WIX_APP_ID=app.app_id,
        WIX_APP_SECRET=app.app_secret,
        WIX_API_BASE_URL=base_url,
        WIXAPP_DATABASE_URL=database_url,
        **extra,
    )
