from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import RegisteredApp
from wixapp.server import Lifespan, create_app
from wixapp.server.lean import LeanRoute
from wixapp.testing import EmulatorClock, open_backend, settings_for_emulator
from wixapp.webhooks import WebhookRouter

AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    database_url: str,
) -> AppFactory:
    """Build a backend on the test database, talking to the in-process emulator."""

    def build(
        *,
        webhooks: WebhookRouter | None = None,
        lifespan: Lifespan | None = None,
        lean_routes: Sequence[LeanRoute] = (),
        **settings: Any,
    ) -> FastAPI:
        config = settings_for_emulator(
            wix_registered_app, database_url=database_url, WIXAPP_HTTP_RETRIES=0, **settings
        )
        return create_app(
            config,
            wix_transport=wix_transport,
            clock=EmulatorClock(wix_emulator_state),
            webhooks=webhooks,
            lifespan=lifespan,
            lean_routes=lean_routes,
        )

    return build


@pytest.fixture
async def backend(make_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with open_backend(make_app()) as client:
        yield client
