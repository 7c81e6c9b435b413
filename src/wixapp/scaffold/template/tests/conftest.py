"""The app under test, against wixapp's offline Wix emulator (the pytest plugin's fixtures:
``wix_settings``, ``wix_transport``, ``wix_install``, ``wix_token``, ``wix_backend``)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from wixapp import Settings

from wixnew_app.main import create_app


@pytest.fixture
async def backend(
    wix_settings: Settings, wix_transport: httpx.AsyncBaseTransport, wix_backend: object
) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process (its lifespan runs wixapp's migrations, then this app's)."""
    app = create_app(wix_settings, wix_transport=wix_transport)
    async with wix_backend(app) as client:  # type: ignore[operator]
        yield client
