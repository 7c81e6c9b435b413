"""The README's example of a user's own test, kept here so it is known to work."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends

from wixapp import Caller
from wixapp.config import Settings
from wixapp.emulator.records import Installation
from wixapp.server import create_app, current_caller
from wixapp.testing import TokenFactory


async def test_my_endpoint_sees_the_callers_instance(
    wix_settings: Settings,
    wix_transport: httpx.ASGITransport,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_backend,  # type: ignore[no-untyped-def]
) -> None:
    app = create_app(wix_settings, wix_transport=wix_transport)

    @app.get("/api/hello")
    async def hello(caller: Annotated[Caller, Depends(current_caller)]) -> dict[str, str]:
        return {"hello": caller.instance_id}

    async with wix_backend(app) as client:
        token = wix_token(wix_instance.instance_id, "MEMBER")
        response = await client.get("/api/hello", headers={"Authorization": token})
    assert response.json() == {"hello": wix_instance.instance_id}
