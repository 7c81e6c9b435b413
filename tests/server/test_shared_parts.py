"""``create_app`` on a WixApp and Store the application already holds (background jobs share
one cache and one pool), and what the backend learns from instance data it fetches."""

from __future__ import annotations

import httpx

from wixapp import WixApp
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.server import create_app
from wixapp.store import Store
from wixapp.testing import TokenFactory, open_backend, settings_for_emulator


async def test_the_backend_uses_and_leaves_open_the_parts_it_is_given(
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    wix_instance: Installation,
    wix_token: TokenFactory,
    database_url: str,
) -> None:
    settings = settings_for_emulator(wix_registered_app, database_url=database_url)
    token = wix_token(wix_instance.instance_id)
    store = await Store.open(database_url)
    try:
        async with WixApp(settings, transport=wix_transport) as wix:
            async with open_backend(create_app(wix=wix, store=store)) as client:
                answer = await client.get(
                    "/get-instance?include=instance", headers={"Authorization": token}
                )
                assert answer.status_code == 200
            # The backend stopped; what it was given still works, with the same cache.
            assert (await wix.identify(token)).instance_id == wix_instance.instance_id
            assert wix_emulator_state.calls()["token-info"] == 1
            record = await store.get_instance(wix_instance.instance_id)
    finally:
        await store.close()

    site = wix_emulator_state.site(wix_instance.site_id)
    assert record is not None
    assert (record.site_url, record.locale) == (site.url, site.locale)
