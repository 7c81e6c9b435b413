"""The app lifecycle end to end: the emulator served on a loopback port delivers its own
signed webhooks over TCP to the backend served on another, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx

from wixapp.emulator import EmulatorControl, EmulatorServer, create_emulator
from wixapp.server import ServerState, create_app
from wixapp.store import InstanceStatus
from wixapp.testing import settings_for_emulator
from wixapp.testing.loopback import port_or_free, serving


async def test_install_settings_remove_reinstall_through_real_deliveries(
    database_url: str,
) -> None:
    async with (
        serving(create_emulator()) as emulator_url,
        EmulatorControl.for_url(emulator_url) as control,
    ):
        app = await control.register_app()
        site = await control.create_site(display_name="Lifecycle")
        settings = settings_for_emulator(
            app,
            base_url=emulator_url,
            database_url=database_url,
            WIX_APP_PUBLIC_KEY=await control.webhook_public_key(app.app_id),
            WIXAPP_MIGRATE_ON_START=False,
        )
        backend_app = create_app(settings)
        async with (
            serving(backend_app) as backend_url,
            httpx.AsyncClient(base_url=backend_url) as backend,
        ):
            state: ServerState = backend_app.state.wixapp
            await control.configure_webhooks(app.app_id, f"{backend_url}/webhooks")

            # install: delivered, the instance is active
            instance_id = (await control.install(app.app_id, site.site_id)).instance_id
            await control.flush_webhooks()
            record = await state.store.get_instance(instance_id)
            assert record is not None
            assert record.status is InstanceStatus.ACTIVE

            # the owner saves settings; a visitor reads the instance data (now cached)
            owner = (await control.mint_token(instance_id, "USER")).token
            saved = await backend.put(
                "/api/settings",
                json={"greeting": "Welcome!"},
                headers={"Authorization": owner, "If-Match": '"v0"'},
            )
            assert saved.status_code == 200
            visitor = {"Authorization": (await control.mint_token(instance_id)).token}
            assert (await backend.get("/get-instance?include=instance", headers=visitor)).is_success
            assert (await backend.get("/get-instance?include=instance", headers=visitor)).is_success
            assert (await control.calls())["instance"] == 1

            # remove: marked removed, settings purged, cached instance data dropped
            await control.uninstall(instance_id)
            await control.flush_webhooks()
            record = await state.store.get_instance(instance_id)
            assert record is not None
            assert record.status is InstanceStatus.REMOVED
            assert await state.store.get_settings(instance_id) is None

            # reinstall: the same instanceId, active again, default settings
            again = await control.install(app.app_id, site.site_id)
            assert again.instance_id == instance_id
            log = await control.flush_webhooks()
            record = await state.store.get_instance(instance_id)
            assert record is not None
            assert record.status is InstanceStatus.ACTIVE
            visitor = {"Authorization": (await control.mint_token(instance_id)).token}
            fresh = await backend.get("/api/settings", headers=visitor)
            assert fresh.status_code == 200
            assert (fresh.json()["version"], fresh.headers["ETag"]) == (0, '"v0"')
            assert fresh.json()["settings"]["greeting"] == "Hello from wixapp!"
            assert (await backend.get("/get-instance?include=instance", headers=visitor)).is_success
            assert (await control.calls())["instance"] == 2  # not served from the old cache

            assert [d.event_type for d in log] == ["AppInstalled", "AppRemoved", "AppInstalled"]
            assert [[a.status for a in d.attempts] for d in log] == [[200], [200], [200]]
            events = await state.store.list_events(instance_id)
            assert [e.event_type for e in events] == ["AppInstalled", "AppRemoved", "AppInstalled"]


async def test_a_backend_that_is_down_gets_the_event_on_the_retry(database_url: str) -> None:
    async with (
        serving(create_emulator()) as emulator_url,
        EmulatorControl.for_url(emulator_url) as control,
    ):
        app = await control.register_app()
        site = await control.create_site()
        port = port_or_free()  # nothing listens here yet: the backend is down
        await control.configure_webhooks(app.app_id, f"http://127.0.0.1:{port}/webhooks")
        instance_id = (await control.install(app.app_id, site.site_id)).instance_id
        (first,) = await control.flush_webhooks()
        assert first.attempts[0].status is None
        assert first.attempts[0].error is not None
        assert "Connect" in first.attempts[0].error

        settings = settings_for_emulator(
            app,
            base_url=emulator_url,
            database_url=database_url,
            WIX_APP_PUBLIC_KEY=await control.webhook_public_key(app.app_id),
            WIXAPP_MIGRATE_ON_START=False,
        )
        backend_app = create_app(settings)
        async with serving(backend_app, port=port):
            await control.advance_clock(59)
            (waiting,) = await control.flush_webhooks()
            assert len(waiting.attempts) == 1  # not due before a minute on the emulator clock
            await control.advance_clock(1)
            (retried,) = await control.flush_webhooks()
            state: ServerState = backend_app.state.wixapp
            record = await state.store.get_instance(instance_id)

        assert [a.ok for a in retried.attempts] == [False, True]
        assert retried.state == "delivered"
        assert record is not None
        assert record.status is InstanceStatus.ACTIVE


async def test_an_emulator_in_its_own_thread_delivers_too(database_url: str) -> None:
    with EmulatorServer() as emulator:
        async with EmulatorControl.for_url(emulator.url) as control:
            app = await control.register_app()
            site = await control.create_site()
            settings = settings_for_emulator(
                app,
                base_url=emulator.url,
                database_url=database_url,
                WIX_APP_PUBLIC_KEY=await control.webhook_public_key(app.app_id),
                WIXAPP_MIGRATE_ON_START=False,
            )
            backend_app = create_app(settings)
            async with serving(backend_app) as backend_url:
                await control.configure_webhooks(app.app_id, f"{backend_url}/webhooks")
                instance_id = (await control.install(app.app_id, site.site_id)).instance_id
                for _ in range(300):  # the pump runs in the emulator's thread: no flush
                    deliveries = await control.webhook_deliveries()
                    if deliveries[0].state != "pending":
                        break
                    await asyncio.sleep(0.01)
                state: ServerState = backend_app.state.wixapp
                record = await state.store.get_instance(instance_id)

    assert deliveries[0].state == "delivered"
    assert record is not None
    assert record.status is InstanceStatus.ACTIVE
