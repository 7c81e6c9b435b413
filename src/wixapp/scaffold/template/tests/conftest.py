"""The app under test, against wixapp's offline Wix emulator (the pytest plugin's fixtures:
``wix_settings``, ``wix_transport``, ``wix_clock``, ``wix_install``, ``wix_token``,
``wix_backend``)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from wixapp import Settings
from wixapp.testing import EmulatorClock

from wixnew_app.main import create_app


@pytest.fixture
def app(
    wix_settings: Settings, wix_transport: httpx.AsyncBaseTransport, wix_clock: EmulatorClock
) -> FastAPI:
    """The app on the emulator's clock: ``wix_clock.advance(seconds)`` moves its time too."""
    return create_app(wix_settings, wix_transport=wix_transport, clock=wix_clock)


@pytest.fixture
async def backend(app: FastAPI, wix_backend: object) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process (its lifespan runs wixapp's migrations, then this app's)."""
    async with wix_backend(app) as client:  # type: ignore[operator]
        yield client
