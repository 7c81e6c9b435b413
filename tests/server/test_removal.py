"""A removed app stops working at once, everywhere a caller could still reach it; same-second
lifecycle events resolve deterministically; all through the webhook route, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.errors import InstanceRemovedError
from wixapp.server import ServerState
from wixapp.store import InstanceStatus
from wixapp.testing import open_backend
from wixapp.web.lifecycle import REMOVALS_POLL_SECONDS
from wixapp.webhooks import generate_rsa_keypair, sign_webhook

from .conftest import AppFactory

T0 = 1_715_000_000


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_rsa_keypair()


def event(keys: tuple[str, str], kind: str, instance_id: str, at: int) -> str:
    return sign_webhook(
        kind, instance_id, {}, private_key_pem=keys[0], iat=at, exp=time.time() + 600
    )


async def deliver(client: httpx.AsyncClient, body: str) -> httpx.Response:
    response = await client.post("/webhooks", content=body)
    assert response.status_code == 200, response.text
    return response


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


async def test_a_removal_stops_cached_callers_writes_and_legacy_values_at_once(
    make_app: AppFactory,
    keys: tuple[str, str],
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
) -> None:
    instance_id = wix_instance.instance_id
    owner = wix_emulator_state.mint_token(instance_id, "USER").token
    legacy = wix_emulator_state.sign_legacy_instance(instance_id, permissions="OWNER")
    app = make_app(WIX_APP_PUBLIC_KEY=keys[1], WIXAPP_MIGRATE_ON_START=False)
    async with open_backend(app) as client:
        state: ServerState = app.state.wixapp
        await deliver(client, event(keys, "AppInstalled", instance_id, T0))
        saved = await client.put(
            "/api/settings", json={"greeting": "hi"}, headers={**auth(owner), "If-Match": '"v0"'}
        )
        assert saved.status_code == 200
        assert (await client.get("/get-instance?include=instance", headers=auth(owner))).is_success
        assert (await client.get(f"/get-instance?instance={legacy}")).is_success
        calls = wix_emulator_state.calls()

        await deliver(client, event(keys, "AppRemoved", instance_id, T0 + 10))
        # Wix is not asked again: the refusal comes from the removal, not from a new check.
        answers = [
            await client.get("/get-instance", headers=auth(owner)),
            await client.get("/get-instance?include=instance", headers=auth(owner)),
            await client.get("/api/settings", headers=auth(owner)),
            await client.put(
                "/api/settings", json={"greeting": "x"}, headers={**auth(owner), "If-Match": "*"}
            ),
            await client.put(
                "/api/settings", json={"greeting": "x"}, headers={**auth(owner), "If-Match": '"v0"'}
            ),
            await client.get(f"/get-instance?instance={legacy}"),
        ]
        assert [(r.status_code, r.json()["error"]) for r in answers] == [(401, "app_removed")] * 6
        assert wix_emulator_state.calls() == calls
        assert await state.store.get_settings(instance_id) is None
        with pytest.raises(InstanceRemovedError):  # the store itself refuses, too
            await state.store.put_settings(instance_id, {"greeting": "x"}, if_match=None)
        assert await state.store.get_settings(instance_id) is None

        # A reinstall serves the instance again, legacy values included.
        await deliver(client, event(keys, "AppInstalled", instance_id, T0 + 20))
        written = await client.put(
            "/api/settings", json={"greeting": "back"}, headers={**auth(owner), "If-Match": '"v0"'}
        )
        assert written.status_code == 200
        assert (await client.get(f"/get-instance?instance={legacy}")).is_success


async def test_writes_never_create_data_for_a_removed_instance_with_retention_off(
    make_app: AppFactory, keys: tuple[str, str]
) -> None:
    instance_id = f"inst-{uuid.uuid4()}"
    app = make_app(
        WIX_APP_PUBLIC_KEY=keys[1], WIXAPP_MIGRATE_ON_START=False, WIXAPP_REMOVED_RETENTION=0
    )
    async with open_backend(app) as client:
        state: ServerState = app.state.wixapp
        await deliver(client, event(keys, "AppRemoved", instance_id, T0))
        for if_match, create_only in ((None, False), ("*", False), (None, True)):
            with pytest.raises(InstanceRemovedError):
                await state.store.put_settings(
                    instance_id, {"greeting": "x"}, if_match=if_match, create_only=create_only
                )
        assert await state.store.get_settings(instance_id) is None


@pytest.mark.parametrize("retention", [0, 3600])
async def test_installed_then_removed_in_the_same_second_ends_removed(
    make_app: AppFactory, keys: tuple[str, str], retention: int
) -> None:
    instance_id = f"inst-{uuid.uuid4()}"
    app = make_app(
        WIX_APP_PUBLIC_KEY=keys[1],
        WIXAPP_MIGRATE_ON_START=False,
        WIXAPP_REMOVED_RETENTION=retention,
    )
    async with open_backend(app) as client:
        state: ServerState = app.state.wixapp
        first = await deliver(client, event(keys, "AppInstalled", instance_id, T0))
        second = await deliver(client, event(keys, "AppRemoved", instance_id, T0))
        record = await state.store.get_instance(instance_id)
    assert [first.json()["status"], second.json()["status"]] == ["applied", "applied"]
    assert record is not None
    assert record.status is InstanceStatus.REMOVED


@pytest.mark.parametrize("retention", [0, 3600])
async def test_removed_then_installed_in_the_same_second_ends_installed_with_its_settings(
    make_app: AppFactory, keys: tuple[str, str], retention: int
) -> None:
    instance_id = f"inst-{uuid.uuid4()}"
    app = make_app(
        WIX_APP_PUBLIC_KEY=keys[1],
        WIXAPP_MIGRATE_ON_START=False,
        WIXAPP_REMOVED_RETENTION=retention,
    )
    async with open_backend(app) as client:
        state: ServerState = app.state.wixapp
        await deliver(client, event(keys, "AppRemoved", instance_id, T0))
        installed = await deliver(client, event(keys, "AppInstalled", instance_id, T0))
        await state.store.put_settings(instance_id, {"greeting": "kept"}, if_match=None)
        state.lifecycle.clock = lambda: T0 + 10 * retention + 10  # well past the retention
        await state.lifecycle.sweep()
        record = await state.store.get_instance(instance_id)
        kept = await state.store.get_settings(instance_id)
    assert installed.json()["status"] == "applied"
    assert record is not None
    assert record.status is InstanceStatus.ACTIVE
    assert kept is not None
    assert kept.document == {"greeting": "kept"}


async def test_without_redis_another_process_refuses_within_its_poll(
    make_app: AppFactory,
    keys: tuple[str, str],
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
) -> None:
    """Two backends on one database and no shared cache: the one that did not get the
    webhook learns of the removal from the database."""
    instance_id = wix_instance.instance_id
    owner = wix_emulator_state.mint_token(instance_id, "USER").token
    first = make_app(WIX_APP_PUBLIC_KEY=keys[1], WIXAPP_MIGRATE_ON_START=False)
    second = make_app(WIX_APP_PUBLIC_KEY=keys[1], WIXAPP_MIGRATE_ON_START=False)
    async with open_backend(first) as one, open_backend(second) as two:
        assert (await two.get("/get-instance", headers=auth(owner))).is_success  # cached
        await deliver(one, event(keys, "AppRemoved", instance_id, T0))
        started = time.monotonic()
        while (await two.get("/get-instance", headers=auth(owner))).status_code == 200:
            assert time.monotonic() - started < 10
            await asyncio.sleep(0.05)
        refused = await two.get("/get-instance", headers=auth(owner))
    assert refused.json()["error"] == "app_removed"
    assert time.monotonic() - started < 2 * REMOVALS_POLL_SECONDS + 1
