"""The backend and the emulator served on real loopback ports, talking over TCP."""

from __future__ import annotations

from pathlib import Path

import httpx

from wixapp.emulator import EmulatorControl, create_emulator
from wixapp.server import create_app
from wixapp.testing import settings_for_emulator
from wixapp.testing.loopback import serving


async def test_the_flow_over_loopback_tcp(tmp_path: Path) -> None:
    async with (
        serving(create_emulator()) as emulator_url,
        EmulatorControl.for_url(emulator_url) as control,
    ):
        app = await control.register_app()
        site = await control.create_site(display_name="Loopback")
        installed = await control.install(app.app_id, site.site_id)
        settings = settings_for_emulator(
            app, base_url=emulator_url, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}"
        )
        async with (
            serving(create_app(settings)) as backend_url,
            httpx.AsyncClient(base_url=backend_url) as backend,
        ):
            visitor = await control.mint_token(installed.instance_id, "VISITOR")
            found = await backend.get("/get-instance", headers={"Authorization": visitor.token})
            assert found.status_code == 200
            assert found.json()["instanceId"] == installed.instance_id
            await control.revoke_token(visitor.token)
            expired = await control.mint_token(installed.instance_id, lifetime=1)
            await control.advance_clock(3600)
            refused = await backend.get("/get-instance", headers={"Authorization": expired.token})
            assert refused.status_code == 401
            assert (await backend.get("/readyz")).status_code == 200
        assert (await control.calls())["token-info"] == 2
