"""The fields Wix documents, sent where they apply, and parsed by wixapp's models.

One test per field: the emulator is set up the way that makes Wix send it, the answer (or
webhook) is read through the library (``WixApp``, ``WixClient``, ``verify_webhook``), and
the parsed value is compared with what was set up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from emulator_testkit import World

from wixapp import WixApp
from wixapp.config import Settings
from wixapp.emulator import EmulatorState, create_emulator
from wixapp.emulator.records import Installation, RegisteredApp, Site
from wixapp.models import AppInstance
from wixapp.upstream.client import WixClient
from wixapp.webhooks import WebhookEvent, verify_webhook

BASE = "https://www.wixapis.com"
PERMISSIONS = ["WIX_DEVELOPERS.MANAGE_APP_INSTANCE", "SCOPE.DC-STORES.READ-PRODUCTS"]


@pytest.fixture
def paid_app(state: EmulatorState) -> RegisteredApp:
    return state.register_app(
        name="MY_SHINY_APP", version="0.0.53", permissions=PERMISSIONS, plans=["basic", "premium"]
    )


@pytest.fixture
def shop(state: EmulatorState) -> Site:
    return state.create_site(
        display_name="Shop", installed_wix_apps=["stores", "bookings"], site_user_type="Enterprise"
    )


@pytest.fixture
def events(state: EmulatorState, paid_app: RegisteredApp) -> list[WebhookEvent]:
    """Every webhook the app gets, as the library verifies and parses it."""
    received: list[WebhookEvent] = []

    async def receive(request: httpx.Request) -> httpx.Response:
        key = state.webhook_public_key(paid_app.app_id)
        received.append(verify_webhook(request.content, key, now=state.now()))
        return httpx.Response(200)

    state.webhooks.use_transport(httpx.MockTransport(receive))
    state.configure_webhooks(paid_app.app_id, "http://backend.test/webhooks")
    return received


@pytest.fixture
async def wix(state: EmulatorState, paid_app: RegisteredApp) -> AsyncIterator[WixApp]:
    settings = Settings(
        WIX_APP_ID=paid_app.app_id,
        WIX_APP_SECRET=paid_app.app_secret,
        WIX_API_BASE_URL=BASE,
        WIXAPP_DATABASE_URL="sqlite://",
    )
    transport = httpx.ASGITransport(app=create_emulator(state=state))
    async with WixApp(settings, transport=transport, clock=state.now) as app:
        yield app


async def read(wix: WixApp, instance_id: str) -> AppInstance:
    return (await wix.instance(instance_id)).data


# ---- per-app name, version and permissions


async def test_app_name(
    wix: WixApp, state: EmulatorState, paid_app: RegisteredApp, shop: Site
) -> None:
    installed = state.install(paid_app.app_id, shop.site_id)
    assert (await read(wix, installed.instance_id)).instance.app_name == "MY_SHINY_APP"


async def test_app_version(
    wix: WixApp, state: EmulatorState, paid_app: RegisteredApp, shop: Site
) -> None:
    installed = state.install(paid_app.app_id, shop.site_id)
    assert (await read(wix, installed.instance_id)).instance.app_version == "0.0.53"


async def test_permissions(
    wix: WixApp, state: EmulatorState, paid_app: RegisteredApp, shop: Site
) -> None:
    installed = state.install(paid_app.app_id, shop.site_id)
    assert (await read(wix, installed.instance_id)).instance.permissions == PERMISSIONS


def test_apps_differ(state: EmulatorState, world: World, paid_app: RegisteredApp) -> None:
    assert paid_app.name != world.app.name
    assert paid_app.permissions != world.app.permissions


async def test_available_plans(
    wix: WixApp, state: EmulatorState, paid_app: RegisteredApp, shop: Site
) -> None:
    installed = state.install(paid_app.app_id, shop.site_id)
    plans = (await read(wix, installed.instance_id)).instance.available_plans
    assert [plan.package_name for plan in plans] == ["basic", "premium"]


# ---- the site


async def test_installed_wix_apps(
    wix: WixApp, state: EmulatorState, paid_app: RegisteredApp, shop: Site
) -> None:
    installed = state.install(paid_app.app_id, shop.site_id)
    assert (await read(wix, installed.instance_id)).site.installed_wix_apps == [
        "stores",
        "bookings",
    ]


async def test_site_user_type(
    wix: WixApp, state: EmulatorState, paid_app: RegisteredApp, shop: Site
) -> None:
    installed = state.install(paid_app.app_id, shop.site_id)
    assert (await read(wix, installed.instance_id)).site.site_user_type == "Enterprise"


async def test_site_user_type_is_sent_by_default(
    wix: WixApp, state: EmulatorState, paid_app: RegisteredApp
) -> None:
    site = state.create_site(display_name="Plain")
    installed = state.install(paid_app.app_id, site.site_id)
    assert (await read(wix, installed.instance_id)).site.site_user_type == "Channel DIY"


# ---- plans: trial, expiry, auto-renewal, invoice


@pytest.fixture
def installed(state: EmulatorState, paid_app: RegisteredApp, shop: Site) -> Installation:
    return state.install(paid_app.app_id, shop.site_id, free_trial_available=True)


async def test_free_trial_available(wix: WixApp, installed: Installation) -> None:
    assert (await read(wix, installed.instance_id)).instance.free_trial_available is True


async def test_billing_time_stamp(
    wix: WixApp, state: EmulatorState, installed: Installation
) -> None:
    bought_at = state.now()
    state.set_plan(installed.instance_id, package_name="premium", billing_cycle="YEARLY")
    billing = (await read(wix, installed.instance_id)).instance.billing
    assert billing is not None
    assert billing.time_stamp is not None
    assert abs(_epoch(billing.time_stamp) - bought_at) < 2


async def test_billing_expiration_date(
    wix: WixApp, state: EmulatorState, installed: Installation
) -> None:
    state.set_plan(installed.instance_id, package_name="premium", billing_cycle="YEARLY")
    billing = (await read(wix, installed.instance_id)).instance.billing
    assert billing is not None
    assert billing.time_stamp
    assert billing.expiration_date
    days = (_epoch(billing.expiration_date) - _epoch(billing.time_stamp)) / 86400
    assert 364 <= days <= 366


async def test_billing_auto_renewing(
    wix: WixApp, state: EmulatorState, installed: Installation
) -> None:
    state.set_plan(installed.instance_id, package_name="premium", billing_cycle="MONTHLY")
    assert (await read(wix, installed.instance_id)).instance.billing.auto_renewing is True  # type: ignore[union-attr]

    state.cancel_auto_renewal(installed.instance_id)
    wix.forget_instance(installed.instance_id)

    assert (await read(wix, installed.instance_id)).instance.billing.auto_renewing is False  # type: ignore[union-attr]


async def test_billing_invoice_id(
    wix: WixApp, state: EmulatorState, installed: Installation
) -> None:
    after = state.set_plan(
        installed.instance_id, package_name="premium", billing_cycle="MONTHLY", invoice_id="inv-7"
    )
    assert after.invoice_id == "inv-7"
    assert (await read(wix, installed.instance_id)).instance.billing.invoice_id == "inv-7"  # type: ignore[union-attr]


async def test_billing_source_is_the_coupon(
    wix: WixApp, state: EmulatorState, installed: Installation
) -> None:
    state.set_plan(
        installed.instance_id, package_name="premium", billing_cycle="MONTHLY", coupon_name="SPRING"
    )
    assert (await read(wix, installed.instance_id)).instance.billing.source == "SPRING"  # type: ignore[union-attr]


async def test_free_trial_info(wix: WixApp, state: EmulatorState, installed: Installation) -> None:
    state.set_plan(
        installed.instance_id, package_name="premium", billing_cycle="MONTHLY", free_trial=True
    )
    data = await read(wix, installed.instance_id)
    assert data.instance.billing is not None
    assert data.instance.billing.free_trial_info is not None
    assert data.instance.billing.free_trial_info.status == "IN_PROGRESS"
    assert data.instance.free_trial_available is False  # used up


async def test_vendor_product_id_in_token_info(
    state: EmulatorState, installed: Installation
) -> None:
    state.set_plan(installed.instance_id, package_name="premium", billing_cycle="MONTHLY")
    token = state.mint_token(installed.instance_id, "VISITOR").token
    transport = httpx.ASGITransport(app=create_emulator(state=state))
    async with WixClient(base_url=BASE, transport=transport) as client:
        info = await client.token_info(token)
    assert info.vendor_product_id == "premium"


async def test_no_vendor_product_id_on_a_free_instance(
    state: EmulatorState, installed: Installation
) -> None:
    token = state.mint_token(installed.instance_id, "VISITOR").token
    transport = httpx.ASGITransport(app=create_emulator(state=state))
    async with WixClient(base_url=BASE, transport=transport) as client:
        assert (await client.token_info(token)).vendor_product_id is None


# ---- duplicating a site


async def test_duplicate_has_origin_instance_id(
    wix: WixApp, state: EmulatorState, installed: Installation, shop: Site
) -> None:
    copy, installations = state.duplicate_site(shop.site_id, display_name="Shop copy")

    (duplicate,) = installations
    assert duplicate.site_id == copy.site_id
    assert duplicate.instance_id != installed.instance_id
    data = await read(wix, duplicate.instance_id)
    assert data.instance.origin_instance_id == installed.instance_id
    assert data.instance.copied_from_template is True
    assert data.site.site_display_name == "Shop copy"
    assert (await read(wix, installed.instance_id)).instance.origin_instance_id is None


async def test_duplicate_sends_app_installed_with_the_origin(
    state: EmulatorState, installed: Installation, shop: Site, events: list[WebhookEvent]
) -> None:
    _, (duplicate,) = state.duplicate_site(shop.site_id)
    await state.webhooks.flush()

    event = events[-1]
    assert event.event_type == "AppInstalled"
    assert event.instance_id == duplicate.instance_id
    assert event.view().origin_instance_id == installed.instance_id  # type: ignore[union-attr]


async def test_duplicate_through_the_control_api(
    control_http: httpx.AsyncClient, installed: Installation, shop: Site
) -> None:
    response = await control_http.post(
        f"/_emulator/sites/{shop.site_id}/duplicate", json={"displayName": "Copy"}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["site"]["displayName"] == "Copy"
    assert body["installations"][0]["originInstanceId"] == installed.instance_id


# ---- plan webhooks


async def purchased(
    state: EmulatorState, installed: Installation, events: list[WebhookEvent]
) -> WebhookEvent:
    state.set_plan(
        installed.instance_id,
        package_name="premium",
        billing_cycle="YEARLY",
        coupon_name="SPRING",
        invoice_id="inv-1",
    )
    await state.webhooks.flush()
    assert events[-1].event_type == "PaidPlanPurchased"
    return events[-1]


async def test_purchase_webhook_expires_on(
    state: EmulatorState, installed: Installation, events: list[WebhookEvent]
) -> None:
    view = (await purchased(state, installed, events)).view()
    assert view.expires_on is not None  # type: ignore[union-attr]
    assert view.expires_on > datetime.fromtimestamp(state.now() + 364 * 86400, UTC)  # type: ignore[union-attr]


async def test_purchase_webhook_coupon_name(
    state: EmulatorState, installed: Installation, events: list[WebhookEvent]
) -> None:
    assert (await purchased(state, installed, events)).view().coupon_name == "SPRING"  # type: ignore[union-attr]


async def test_purchase_webhook_invoice_id(
    state: EmulatorState, installed: Installation, events: list[WebhookEvent]
) -> None:
    assert (await purchased(state, installed, events)).view().invoice_id == "inv-1"  # type: ignore[union-attr]


async def test_change_webhook_fields(
    state: EmulatorState, installed: Installation, events: list[WebhookEvent]
) -> None:
    await purchased(state, installed, events)
    state.set_plan(
        installed.instance_id, package_name="basic", billing_cycle="MONTHLY", invoice_id="inv-2"
    )
    await state.webhooks.flush()

    view = events[-1].view()
    assert events[-1].event_type == "PaidPlanChanged"
    assert view.invoice_id == "inv-2"  # type: ignore[union-attr]
    assert view.previous_vendor_product_id == "premium"  # type: ignore[union-attr]
    assert view.previous_cycle == "YEARLY"  # type: ignore[union-attr]


async def test_auto_renewal_cancelled_webhook_fields(
    state: EmulatorState, installed: Installation, events: list[WebhookEvent]
) -> None:
    await purchased(state, installed, events)
    state.cancel_auto_renewal(installed.instance_id, user_reason="too expensive")
    await state.webhooks.flush()

    view = events[-1].view()
    assert events[-1].event_type == "PaidPlanAutoRenewalCancelled"
    assert view.vendor_product_id == "premium"  # type: ignore[union-attr]
    assert view.cancel_reason == "USER_CANCEL"  # type: ignore[union-attr]
    assert view.user_reason == "too expensive"  # type: ignore[union-attr]
    assert view.subscription_cancellation_type  # type: ignore[union-attr]
    assert view.cancelled_during_free_trial == "NOT_DURING_FREE_TRIAL"  # type: ignore[union-attr]


async def test_auto_renewal_cancelled_during_a_free_trial(
    state: EmulatorState, installed: Installation, events: list[WebhookEvent]
) -> None:
    state.set_plan(
        installed.instance_id, package_name="premium", billing_cycle="MONTHLY", free_trial=True
    )
    state.cancel_auto_renewal(installed.instance_id)
    await state.webhooks.flush()

    view = events[-1].view()
    assert events[-1].event_type == "PaidPlanAutoRenewalCancelled"
    assert view.cancelled_during_free_trial == "DURING_FREE_TRIAL"  # type: ignore[union-attr]


# ---- webhook identity


async def test_install_webhook_identity_is_the_installing_user(
    state: EmulatorState, paid_app: RegisteredApp, shop: Site, events: list[WebhookEvent]
) -> None:
    state.install(paid_app.app_id, shop.site_id)
    await state.webhooks.flush()

    identity = events[-1].actor
    assert identity.identity_type == "WIX_USER"
    assert identity.wix_user_id == shop.owner_id


async def test_purchase_webhook_identity_is_the_buyer(
    state: EmulatorState, installed: Installation, events: list[WebhookEvent]
) -> None:
    state.set_plan(
        installed.instance_id, package_name="premium", billing_cycle="MONTHLY", buyer_id="collab-1"
    )
    await state.webhooks.flush()

    assert events[-1].actor.identity_type == "WIX_USER"
    assert events[-1].actor.wix_user_id == "collab-1"


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
