"""POST /webhooks on the backend: verification, built-in lifecycle handling, user handlers.

Bodies are signed here with a test key; the end-to-end run through the emulator's own
delivery is in test_lifecycle_served.py. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.server import ServerState
from wixapp.store import InstanceStatus, Store, StoreUnavailableError
from wixapp.testing import TokenFactory, open_backend
from wixapp.webhooks import WebhookEvent, WebhookRouter, generate_rsa_keypair, sign_webhook

from .conftest import AppFactory

APP_ID = "7f58c233-72b6-4e45-889c-56aca8dbb2ba"
T0 = 1_715_000_000  # epoch seconds; events below are T0 + n


@pytest.fixture
def wix_registered_app(wix_emulator_state: EmulatorState) -> RegisteredApp:
    """The app under test is APP_ID, the ID the events below name."""
    return wix_emulator_state.register_app(APP_ID)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(scope="module")
def other_keys() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture
def instance_id() -> str:
    return f"inst-{uuid.uuid4()}"


class Recorder:
    """A user's handlers: counts every event they receive."""

    def __init__(self) -> None:
        self.router = WebhookRouter()
        self.seen: list[WebhookEvent] = []
        self.router.on_any(self.seen.append)

    def kinds(self) -> list[str]:
        return [event.event_type for event in self.seen]


Backend = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, ServerState]]]


@pytest.fixture
def backend_with(make_app: AppFactory, keys: tuple[str, str]) -> Backend:
    """Open a backend whose WIX_APP_PUBLIC_KEY is the test key (unless overridden)."""

    @asynccontextmanager
    async def opened(
        router: WebhookRouter | None = None, **settings: Any
    ) -> AsyncIterator[tuple[httpx.AsyncClient, ServerState]]:
        settings.setdefault("WIX_APP_PUBLIC_KEY", keys[1])
        settings.setdefault("WIXAPP_MIGRATE_ON_START", False)  # the session migrated it
        app = make_app(webhooks=router, **settings)
        async with open_backend(app) as client:
            yield client, app.state.wixapp

    return opened


def signed(
    keys: tuple[str, str],
    event_type: str,
    instance_id: str,
    *,
    at: int,
    data: dict[str, Any] | None = None,
) -> str:
    payload = {"appId": APP_ID} if data is None else data
    return sign_webhook(
        event_type, instance_id, payload, private_key_pem=keys[0], iat=at, exp=time.time() + 600
    )


def plan(product: str, cycle: str, at: int, **extra: Any) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
    return {"operationTimeStamp": stamp, "vendorProductId": product, "cycle": cycle, **extra}


async def post(client: httpx.AsyncClient, body: str | bytes, **headers: str) -> httpx.Response:
    return await client.post("/webhooks", content=body, headers=headers)


async def status_of(store: Store, instance_id: str) -> InstanceStatus | None:
    record = await store.get_instance(instance_id)
    return None if record is None else record.status


# ---- the built-in lifecycle handling


async def test_install_plan_and_removal_apply_and_answer_200(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    async with backend_with() as (client, state):
        installed = await post(client, signed(keys, "AppInstalled", instance_id, at=T0))
        assert installed.status_code == 200
        assert installed.json() == {"status": "applied", "eventType": "AppInstalled"}
        assert await status_of(state.store, instance_id) is InstanceStatus.ACTIVE

        data = plan("pro", "YEARLY", T0 + 5, expiresOn="2030-01-01T00:00:00Z")
        bought = await post(
            client, signed(keys, "PaidPlanPurchased", instance_id, at=T0 + 5, data=data)
        )
        assert bought.json()["status"] == "applied"
        record = await state.store.get_instance(instance_id)
        assert record is not None
        assert (record.vendor_product_id, record.package_name) == ("pro", "pro")
        assert (record.billing_cycle, record.is_free) == ("YEARLY", False)
        assert record.plan_expires_at == datetime(2030, 1, 1, tzinfo=UTC)

        removed = await post(client, signed(keys, "AppRemoved", instance_id, at=T0 + 10))
        assert removed.json()["status"] == "applied"
        assert await status_of(state.store, instance_id) is InstanceStatus.REMOVED
        events = await state.store.list_events(instance_id)
        assert [e.event_type for e in events] == ["AppInstalled", "PaidPlanPurchased", "AppRemoved"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "", "app/jwt"])
async def test_any_content_type_is_read_as_the_jwt(
    backend_with: Backend, keys: tuple[str, str], instance_id: str, content_type: str
) -> None:
    async with backend_with() as (client, _):
        body = signed(keys, "AppInstalled", instance_id, at=T0) + "\n"
        response = await post(client, body.encode(), **{"Content-Type": content_type})
    assert response.status_code == 200


async def test_removal_purges_settings_and_reinstall_starts_fresh(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    async with backend_with() as (client, state):
        await post(client, signed(keys, "AppInstalled", instance_id, at=T0))
        await state.store.put_settings(instance_id, {"greeting": "hi"}, if_match=None)
        await post(client, signed(keys, "AppRemoved", instance_id, at=T0 + 10))
        assert await state.store.get_settings(instance_id) is None

        again = await post(client, signed(keys, "AppInstalled", instance_id, at=T0 + 20))
        assert again.json()["status"] == "applied"
        assert await status_of(state.store, instance_id) is InstanceStatus.ACTIVE
        assert await state.store.get_settings(instance_id) is None


async def test_retention_keeps_settings_after_removal(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    async with backend_with(WIXAPP_REMOVED_RETENTION=3600) as (client, state):
        await post(client, signed(keys, "AppInstalled", instance_id, at=T0))
        await state.store.put_settings(instance_id, {"greeting": "hi"}, if_match=None)
        await post(client, signed(keys, "AppRemoved", instance_id, at=T0 + 10))
        assert await status_of(state.store, instance_id) is InstanceStatus.REMOVED
        assert await state.store.get_settings(instance_id) is not None  # the sweep's job


async def test_unknown_event_is_recorded_acknowledged_and_dispatched(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    recorder = Recorder()
    async with backend_with(recorder.router) as (client, state):
        response = await post(
            client, signed(keys, "SomethingNew", instance_id, at=T0, data={"x": 1})
        )
        await state.webhooks.drain()
        events = await state.store.list_events(instance_id)
    assert response.status_code == 200
    assert response.json() == {"status": "recorded", "eventType": "SomethingNew"}
    assert [(e.event_type, e.payload["data"]) for e in events] == [("SomethingNew", {"x": 1})]
    assert recorder.kinds() == ["SomethingNew"]


# ---- redeliveries and order


async def test_a_redelivery_changes_nothing_and_runs_handlers_once(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    recorder = Recorder()
    body = signed(keys, "AppInstalled", instance_id, at=T0)
    async with backend_with(recorder.router) as (client, state):
        first = await post(client, body)
        again = await post(client, body)
        resigned = await post(client, signed(keys, "AppInstalled", instance_id, at=T0))
        await state.webhooks.drain()
        events = await state.store.list_events(instance_id)
    assert [r.status_code for r in (first, again, resigned)] == [200, 200, 200]
    assert [r.json()["status"] for r in (first, again, resigned)] == [
        "applied",
        "duplicate",
        "duplicate",
    ]
    assert len(events) == 1
    assert recorder.kinds() == ["AppInstalled"]


async def test_an_older_install_after_a_removal_leaves_it_removed(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    async with backend_with() as (client, state):
        removed = await post(client, signed(keys, "AppRemoved", instance_id, at=T0 + 20))
        late = await post(client, signed(keys, "AppInstalled", instance_id, at=T0 + 10))
        assert (removed.json()["status"], late.json()["status"]) == ("applied", "outdated")
        assert await status_of(state.store, instance_id) is InstanceStatus.REMOVED
        assert len(await state.store.list_events(instance_id)) == 2


async def test_an_older_plan_event_never_overwrites_a_newer_one(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    changed = plan("gold", "YEARLY", T0 + 20, previousVendorProductId="silver")
    bought = plan("silver", "MONTHLY", T0 + 10)
    async with backend_with() as (client, state):
        await post(client, signed(keys, "PaidPlanChanged", instance_id, at=T0 + 21, data=changed))
        late = await post(
            client, signed(keys, "PaidPlanPurchased", instance_id, at=T0 + 22, data=bought)
        )
        record = await state.store.get_instance(instance_id)
    assert late.json()["status"] == "outdated"  # by operationTimeStamp, not by arrival
    assert record is not None
    assert (record.vendor_product_id, record.billing_cycle) == ("gold", "YEARLY")


@pytest.mark.parametrize(
    "event_type",
    [
        "PaidPlanAutoRenewalCancelled",
        "PlanConvertedToPaid",
        "PaidPlanConvertedToPaid",
        "PlanReactivated",
        "PaidPlanReactivated",
        "PlanTransferred",
        "PaidPlanTransferred",
    ],
)
async def test_every_plan_event_applies_the_plan(
    backend_with: Backend, keys: tuple[str, str], instance_id: str, event_type: str
) -> None:
    async with backend_with() as (client, state):
        response = await post(
            client,
            signed(keys, event_type, instance_id, at=T0, data=plan("pro", "MONTHLY", T0)),
        )
        record = await state.store.get_instance(instance_id)
    assert response.json()["status"] == "applied"
    assert record is not None
    assert (record.vendor_product_id, record.billing_cycle, record.is_free) == (
        "pro",
        "MONTHLY",
        False,
    )


async def test_auto_renewal_cancelled_keeps_the_known_end_date(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    bought = plan("pro", "YEARLY", T0, expiresOn="2030-01-01T00:00:00Z")
    cancelled = plan("pro", "YEARLY", T0 + 5, cancelReason="USER_ACTION")
    async with backend_with() as (client, state):
        await post(client, signed(keys, "PaidPlanPurchased", instance_id, at=T0, data=bought))
        await post(
            client,
            signed(keys, "PaidPlanAutoRenewalCancelled", instance_id, at=T0 + 5, data=cancelled),
        )
        record = await state.store.get_instance(instance_id)
    assert record is not None
    assert record.plan_expires_at == datetime(2030, 1, 1, tzinfo=UTC)


# ---- caches follow the lifecycle


async def test_removal_and_plan_changes_drop_cached_instance_data(
    backend_with: Backend,
    keys: tuple[str, str],
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    instance = wix_instance.instance_id
    async with backend_with() as (client, _):

        async def read(status: int = 200) -> None:
            response = await client.get(
                "/get-instance?include=instance", headers={"Authorization": token}
            )
            assert response.status_code == status

        await read()
        await read()
        assert wix_emulator_state.calls()["instance"] == 1  # cached
        data = plan("pro", "MONTHLY", T0)
        await post(client, signed(keys, "PaidPlanPurchased", instance, at=T0, data=data))
        await read()
        assert wix_emulator_state.calls()["instance"] == 2
        await post(client, signed(keys, "AppRemoved", instance, at=T0 + 1))
        await read(401)  # removed: nothing cached is served, Wix is not asked
        assert wix_emulator_state.calls()["instance"] == 2
        await post(client, signed(keys, "AppRemoved", instance, at=T0 + 1))  # a redelivery
        await read(401)
        await post(client, signed(keys, "AppInstalled", instance, at=T0 + 2))
        await read()  # installed again: served, with data read afresh
        assert wix_emulator_state.calls()["instance"] == 3


# ---- rejections: 400/401 and no side effect at all


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(instance_id: str) -> dict[str, Any]:
    envelope = {
        "eventType": "AppRemoved",
        "instanceId": instance_id,
        "data": json.dumps({"appId": APP_ID}),
        "identity": json.dumps({"identityType": "APP"}),
    }
    return {"data": json.dumps(envelope), "iat": T0 + 100, "exp": int(time.time()) + 600}


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    return f"{head}.{_b64(json.dumps(claims).encode())}.{_b64(signature)}"


def _hs256_with_public_key(public_pem: str, claims: dict[str, Any]) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{head}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _tampered(keys: tuple[str, str], instance_id: str) -> str:
    header, _, signature = signed(keys, "AppRemoved", "someone-else", at=T0 + 100).split(".")
    return f"{header}.{_b64(json.dumps(_claims(instance_id)).encode())}.{signature}"


FORGERIES: dict[str, tuple[Callable[[tuple[str, str], tuple[str, str], str], str], int, str]] = {
    "alg none": (
        lambda keys, other, iid: _unsigned({"alg": "none", "typ": "JWT"}, _claims(iid)),
        401,
        "webhook_algorithm_rejected",
    ),
    "HS256 keyed with the public key": (
        lambda keys, other, iid: _hs256_with_public_key(keys[1], _claims(iid)),
        401,
        "webhook_algorithm_rejected",
    ),
    "wrong key": (
        lambda keys, other, iid: jwt.encode(_claims(iid), other[0], algorithm="RS256"),
        401,
        "invalid_webhook_signature",
    ),
    "tampered body": (
        lambda keys, other, iid: _tampered(keys, iid),
        401,
        "invalid_webhook_signature",
    ),
    "expired": (
        lambda keys, other, iid: sign_webhook(
            "AppRemoved", iid, {}, private_key_pem=keys[0], iat=T0 + 100, exp=T0 + 200
        ),
        401,
        "webhook_expired",
    ),
    "another app's event, signed with this key": (
        lambda keys, other, iid: signed(keys, "AppRemoved", iid, at=T0 + 5, data={"appId": "b"}),
        400,
        "webhook_for_another_app",
    ),
    "garbage": (lambda keys, other, iid: "this is not a jwt", 400, "invalid_webhook"),
    "empty body": (lambda keys, other, iid: "", 400, "invalid_webhook"),
}


@pytest.mark.parametrize("case", list(FORGERIES))
async def test_rejections_have_no_side_effect(
    backend_with: Backend,
    keys: tuple[str, str],
    other_keys: tuple[str, str],
    instance_id: str,
    case: str,
) -> None:
    make_body, status, code = FORGERIES[case]
    recorder = Recorder()
    async with backend_with(recorder.router) as (client, state):
        await post(client, signed(keys, "AppInstalled", instance_id, at=T0))
        await state.store.put_settings(instance_id, {"greeting": "kept"}, if_match=None)
        await state.webhooks.drain()
        before = await state.store.get_instance(instance_id)

        response = await post(client, make_body(keys, other_keys, instance_id))

        await state.webhooks.drain()
        assert response.status_code == status
        assert response.json()["error"] == code
        assert [e.event_type for e in await state.store.list_events(instance_id)] == [
            "AppInstalled"
        ]
        assert await state.store.get_instance(instance_id) == before
        assert (await state.store.get_settings(instance_id)) is not None
        assert recorder.kinds() == ["AppInstalled"]


async def test_another_apps_install_signed_with_this_key_writes_nothing(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    """One key signing for several apps (the emulator's, a leaked one) cannot install this
    app on a site: the event names another app ID."""
    recorder = Recorder()
    async with backend_with(recorder.router) as (client, state):
        body = signed(keys, "AppInstalled", instance_id, at=T0, data={"appId": "another-app"})
        response = await post(client, body)
        await state.webhooks.drain()
        assert (response.status_code, response.json()["error"]) == (400, "webhook_for_another_app")
        assert await state.store.get_instance(instance_id) is None
        assert await state.store.list_events(instance_id) == []
        assert recorder.kinds() == []


async def test_without_a_public_key_webhooks_get_503_logged_once(
    backend_with: Backend,
    keys: tuple[str, str],
    instance_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="wixapp")
    async with backend_with(WIX_APP_PUBLIC_KEY=None) as (client, state):
        body = signed(keys, "AppInstalled", instance_id, at=T0)
        answers = [await post(client, body) for _ in range(3)]
        assert await state.store.list_events(instance_id) == []
    assert {r.status_code for r in answers} == {503}
    assert answers[0].json()["error"] == "webhooks_not_configured"
    assert "WIX_APP_PUBLIC_KEY" in answers[0].json()["detail"]
    assert answers[0].headers["Retry-After"] == "60"
    said = ("webhooks will be answered 503", "answering webhooks with 503")  # the receiver's
    logged = [r for r in caplog.records if r.getMessage().startswith(said)]
    assert len(logged) == 1
    assert "WIX_APP_PUBLIC_KEY" in logged[0].getMessage()
    # Said at start-up, before any webhook came: a notice, not yet an error.
    assert logged[0].levelno == logging.WARNING
    assert logged[0].getMessage().startswith("webhooks will be answered 503")


async def test_each_applied_lifecycle_event_is_logged_at_info(
    backend_with: Backend,
    keys: tuple[str, str],
    instance_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wixapp.web.lifecycle")
    async with backend_with() as (client, _):
        body = signed(keys, "AppInstalled", instance_id, at=T0)
        for _ in range(2):  # the redelivery is not applied again
            await post(client, body)
        await post(client, signed(keys, "AppRemoved", instance_id, at=T0 + 1))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("applied ")]
    assert lines == [
        f"applied AppInstalled for instance {instance_id}",
        f"applied AppRemoved for instance {instance_id}",
    ]


async def test_an_unusable_public_key_is_a_503_naming_it(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    async with backend_with(WIX_APP_PUBLIC_KEY="not a key") as (client, _):
        response = await post(client, signed(keys, "AppInstalled", instance_id, at=T0))
    assert response.status_code == 503
    assert "WIX_APP_PUBLIC_KEY" in response.json()["detail"]


async def test_a_store_failure_undoes_the_record_so_the_retry_applies(
    backend_with: Backend,
    keys: tuple[str, str],
    instance_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = Recorder()
    body = signed(keys, "AppInstalled", instance_id, at=T0)
    async with backend_with(recorder.router) as (client, state):

        async def database_down(*args: object, **kwargs: object) -> bool:
            raise StoreUnavailableError()

        with monkeypatch.context() as patch:
            patch.setattr(state.store, "mark_installed", database_down)
            failed = await post(client, body)
        assert failed.status_code == 503  # Wix retries a 5xx
        assert await state.store.list_events(instance_id) == []

        retried = await post(client, body)
        await state.webhooks.drain()
        assert retried.json()["status"] == "applied"
        assert await status_of(state.store, instance_id) is InstanceStatus.ACTIVE
    assert recorder.kinds() == ["AppInstalled"]


# ---- user handlers never hold the answer


async def test_a_slow_handler_does_not_delay_the_200(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    router = WebhookRouter()
    started = asyncio.Event()
    finished: list[str] = []

    @router.on("AppInstalled")
    async def slow(event: WebhookEvent) -> None:
        started.set()
        await asyncio.sleep(5)
        finished.append(event.instance_id)

    async with backend_with(router) as (client, state):
        begun = time.perf_counter()
        response = await post(client, signed(keys, "AppInstalled", instance_id, at=T0))
        elapsed = time.perf_counter() - begun
        async with asyncio.timeout(1):
            await started.wait()

        assert response.status_code == 200
        assert elapsed < 1.0
        assert router.pending == 1
        assert await status_of(state.store, instance_id) is InstanceStatus.ACTIVE
        assert await router.shutdown(0.05) == 1  # drained for 50 ms, then cancelled
    assert finished == []
    assert router.pending == 0


async def test_shutdown_drains_handlers_still_running(
    backend_with: Backend, keys: tuple[str, str], instance_id: str
) -> None:
    router = WebhookRouter()
    finished: list[str] = []

    @router.on("AppInstalled")
    async def slowish(event: WebhookEvent) -> None:
        await asyncio.sleep(0.2)
        finished.append(event.instance_id)

    async with backend_with(router) as (client, _):
        response = await post(client, signed(keys, "AppInstalled", instance_id, at=T0))
        assert response.status_code == 200
        assert finished == []
    assert finished == [instance_id]  # the lifespan waited for it


async def test_a_failing_handler_still_gets_a_200(
    backend_with: Backend,
    keys: tuple[str, str],
    instance_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = WebhookRouter()

    @router.on("AppInstalled")
    def broken(event: WebhookEvent) -> None:
        raise RuntimeError("bug in the user's handler")

    async with backend_with(router) as (client, state):
        response = await post(client, signed(keys, "AppInstalled", instance_id, at=T0))
        await state.webhooks.drain()
    assert response.status_code == 200
    assert any("broken" in r.getMessage() for r in caplog.records)


async def test_handlers_can_be_added_through_app_state(
    make_app: AppFactory, keys: tuple[str, str], instance_id: str
) -> None:
    app: FastAPI = make_app(WIX_APP_PUBLIC_KEY=keys[1])
    seen: list[str] = []
    app.state.webhooks.on("AppRemoved")(lambda event: seen.append(event.instance_id))

    async with open_backend(app) as client:
        response = await post(client, signed(keys, "AppRemoved", instance_id, at=T0))
        await app.state.webhooks.drain()
    assert response.status_code == 200
    assert seen == [instance_id]


# ---- the emulator's own deliveries, in-process


async def test_the_emulator_delivers_in_process_and_duplicates_change_nothing(
    make_app: AppFactory,
    wix_emulator_state: EmulatorState,
    wix_deliver_webhooks: Callable[..., None],
    wix_registered_app: Any,
) -> None:
    recorder = Recorder()
    app = make_app(
        webhooks=recorder.router,
        WIX_APP_PUBLIC_KEY=wix_emulator_state.webhook_public_key(wix_registered_app.app_id),
    )
    wix_deliver_webhooks(app)
    async with open_backend(app):
        state: ServerState = app.state.wixapp
        site = wix_emulator_state.create_site()
        installed = wix_emulator_state.install(wix_registered_app.app_id, site.site_id)
        instance_id = installed.instance_id
        wix_emulator_state.set_plan(instance_id, package_name="pro", billing_cycle="YEARLY")
        wix_emulator_state.uninstall(instance_id)
        log = await wix_emulator_state.webhooks.flush()
        for delivery in log:
            wix_emulator_state.webhooks.redeliver(delivery.delivery_id)
        log = await wix_emulator_state.webhooks.flush()
        await state.webhooks.drain()
        record = await state.store.get_instance(instance_id)
        events = await state.store.list_events(instance_id)

    assert [(d.event_type, d.state) for d in log] == [
        ("AppInstalled", "delivered"),
        ("PaidPlanPurchased", "delivered"),
        ("AppRemoved", "delivered"),
        ("AppInstalled", "delivered"),
        ("PaidPlanPurchased", "delivered"),
        ("AppRemoved", "delivered"),
    ]
    assert record is not None
    assert record.status is InstanceStatus.REMOVED
    assert (record.vendor_product_id, record.billing_cycle) == ("pro", "YEARLY")
    assert len(events) == 3
    assert recorder.kinds() == ["AppInstalled", "PaidPlanPurchased", "AppRemoved"]


async def test_a_backend_refuses_webhooks_signed_with_another_apps_key(
    make_app: AppFactory, wix_emulator_state: EmulatorState, wix_registered_app: RegisteredApp
) -> None:
    other_app = wix_emulator_state.register_app()
    site = wix_emulator_state.create_site()
    ours = wix_emulator_state.install(wix_registered_app.app_id, site.site_id)
    theirs = wix_emulator_state.install(other_app.app_id, site.site_id)
    app = make_app(
        WIX_APP_PUBLIC_KEY=wix_emulator_state.webhook_public_key(wix_registered_app.app_id)
    )
    async with open_backend(app) as client:
        foreign = wix_emulator_state.sign_webhook(theirs.instance_id, "AppInstalled", data={})
        refused = await client.post("/webhooks", content=foreign)
        own = wix_emulator_state.sign_webhook(ours.instance_id, "AppInstalled", data={})
        accepted = await client.post("/webhooks", content=own)
        state: ServerState = app.state.wixapp
        assert await state.store.get_instance(theirs.instance_id) is None

    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_webhook_signature")
    assert accepted.status_code == 200
