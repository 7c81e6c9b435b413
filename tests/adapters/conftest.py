"""Fixtures of the adapter tests: one app configuration, as each framework receives it."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from wixapp.config import Settings, load_settings
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import RegisteredApp
from wixapp.testing import EMULATOR_BASE_URL
from wixapp.webhooks import WebhookEvent, WebhookRouter, generate_rsa_keypair, sign_webhook

from . import frameworks
from .apps import Notes

SITE_ORIGIN = "https://bakery.example"


@functools.cache
def keypair(name: str) -> tuple[str, str]:
    """RSA keys (private, public) made once per test run: each costs about 0.1 s."""
    return generate_rsa_keypair()


class AdapterSetup:
    """The app's configuration (the backend's variable names), the emulator seam, the
    webhook handlers and signing, and ``open(framework)`` → a probe on its test client."""

    def __init__(
        self,
        app: RegisteredApp,
        state: EmulatorState,
        transport: httpx.AsyncBaseTransport,
        database: Path,
    ) -> None:
        self.state = state
        self.config: dict[str, Any] = {
            "WIX_APP_ID": app.app_id,
            "WIX_APP_SECRET": app.app_secret,
            "WIX_API_BASE_URL": EMULATOR_BASE_URL,
            "WIX_APP_PUBLIC_KEY": keypair("wix")[1],
            "WIXAPP_DATABASE_URL": f"sqlite:///{database}",
            "WIXAPP_CORS_ORIGINS": SITE_ORIGIN,
            "WIXAPP_HTTP_RETRIES": 0,
        }
        self.events: list[WebhookEvent] = []
        self.handled = threading.Event()
        self.webhooks = WebhookRouter()
        self.webhooks.on_any(self._handle)
        self.options: dict[str, Any] = {
            "transport": transport,
            "clock": state.now,
            "webhooks": self.webhooks,
        }

    def _handle(self, event: WebhookEvent) -> None:
        self.events.append(event)
        self.handled.set()

    @property
    def settings(self) -> Settings:
        return load_settings(**self.config)

    def signed(
        self, event_type: str, instance_id: str, data: dict[str, Any], *, forged: bool = False
    ) -> str:
        private_key = keypair("forger" if forged else "wix")[0]
        return sign_webhook(
            event_type, instance_id, data, private_key_pem=private_key, iat=self.state.now()
        )

    def open(self, framework: str) -> contextlib.AbstractAsyncContextManager[Any]:
        openers: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[Any]]] = {
            "fastapi": lambda: frameworks.open_fastapi(self.settings, Notes(), **self.options),
            "starlette": lambda: frameworks.open_starlette(self.settings, Notes(), **self.options),
            "quart": lambda: frameworks.open_quart(self.settings, Notes(), **self.options),
            "flask": lambda: frameworks.open_flask(self.config, Notes(), **self.options),
            "django": lambda: frameworks.open_django(
                self.config, Notes(), is_async=False, **self.options
            ),
            "django-async": lambda: frameworks.open_django(
                self.config, Notes(), is_async=True, **self.options
            ),
        }
        return openers[framework]()


@pytest.fixture
def adapter(
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    tmp_path: Path,
) -> AdapterSetup:
    return AdapterSetup(wix_registered_app, wix_emulator_state, wix_transport, tmp_path / "w.db")
