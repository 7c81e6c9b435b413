"""The emulator's webhook delivery: signed as Wix signs, retried on Wix's schedule (spec §7)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from emulator_testkit import World

from wixapp.emulator import EmulatorControl, EmulatorState, WebhookDelivery
from wixapp.emulator.delivery import DELIVERY_TIMEOUT, RETRY_SCHEDULE
from wixapp.emulator.wix_errors import EmulatorConflictError, EmulatorError, EmulatorNotFoundError
from wixapp.errors import WebhookSignatureError
from wixapp.webhooks import WebhookEvent, load_public_key, verify_webhook

HOOK_URL = "http://backend.test/webhooks"


class Receiver:
    """A webhook endpoint as an httpx transport: records what arrives, answers as told."""

    def __init__(self, state: EmulatorState, app_id: str) -> None:
        self.state = state
        self.app_id = app_id
        self.bodies: list[bytes] = []
        self.statuses: list[int] = []  # answers to give in turn; 200 once they run out
        self.delay = 0.0
        self.fail_with: Exception | None = None
        self.transport = httpx.MockTransport(self._handle)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        if self.fail_with is not None:
            raise self.fail_with
        if self.delay:
            await asyncio.sleep(self.delay)
        self.bodies.append(request.content)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def events(self) -> list[WebhookEvent]:
        key = self.state.webhook_public_key(self.app_id)
        return [verify_webhook(body, key, now=self.state.now()) for body in self.bodies]


@pytest.fixture
def receiver(state: EmulatorState, world: World) -> Receiver:
    receiver = Receiver(state, world.app.app_id)
    state.webhooks.use_transport(receiver.transport)
    state.configure_webhooks(world.app.app_id, HOOK_URL)
    return receiver


async def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the webhook pump"
        await asyncio.sleep(0.01)


def only(deliveries: list[WebhookDelivery]) -> WebhookDelivery:
    assert len(deliveries) == 1, deliveries
    return deliveries[0]


# ---- the key and the configuration


async def test_each_app_has_its_own_public_key_from_state_and_control_api(
    state: EmulatorState, control: EmulatorControl, world: World
) -> None:
    pem = await control.webhook_public_key(world.app.app_id)

    assert pem == state.webhook_public_key(world.app.app_id)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    load_public_key(pem)
    assert state.webhook_public_key(world.other_app.app_id) != pem  # a key per app, as Wix
    with pytest.raises(EmulatorNotFoundError):
        state.webhook_public_key("no-such-app")


async def test_an_app_refuses_another_apps_webhooks(state: EmulatorState, world: World) -> None:
    body = state.sign_webhook(world.other_installation.instance_id, "AppInstalled", data={})

    with pytest.raises(WebhookSignatureError):
        verify_webhook(body, state.webhook_public_key(world.app.app_id), now=state.now())
    verify_webhook(body, state.webhook_public_key(world.other_app.app_id), now=state.now())


async def test_configuration_is_checked(control: EmulatorControl, world: World) -> None:
    with pytest.raises(EmulatorNotFoundError):
        await control.configure_webhooks("no-such-app", HOOK_URL)
    with pytest.raises(EmulatorError):
        await control.configure_webhooks(world.app.app_id, "not a url")
    await control.configure_webhooks(world.app.app_id, HOOK_URL)
    await control.configure_webhooks(world.app.app_id, None)


async def test_events_of_apps_without_a_url_are_not_delivered(
    state: EmulatorState, world: World, receiver: Receiver
) -> None:
    state.uninstall(world.other_installation.instance_id)  # the other app has no URL

    assert await state.webhooks.flush() == []
    assert receiver.bodies == []


# ---- delivery


async def test_lifecycle_events_are_delivered_signed_with_the_three_layers(
    state: EmulatorState, control: EmulatorControl, world: World, receiver: Receiver
) -> None:
    state.set_plan(world.instance_id, package_name="pro", billing_cycle="YEARLY")
    state.uninstall(world.instance_id)
    log = await control.flush_webhooks()

    assert [d.event_type for d in log] == ["PaidPlanPurchased", "AppRemoved"]
    assert {d.state for d in log} == {"delivered"}
    assert [a.status for d in log for a in d.attempts] == [200, 200]
    events = receiver.events()
    assert [e.event_type for e in events] == ["PaidPlanPurchased", "AppRemoved"]
    assert {e.instance_id for e in events} == {world.instance_id}
    assert events[0].data["vendorProductId"] == "pro"
    assert events[1].data == {"appId": world.app.app_id}
    assert events[1].identity_type == "WIX_USER"  # the site owner removed the app
    assert events[1].actor.wix_user_id == world.site.owner_id


async def test_a_control_api_install_is_delivered_by_the_pump(
    state: EmulatorState, control: EmulatorControl, world: World, receiver: Receiver
) -> None:
    site = await control.create_site()
    await control.install(world.app.app_id, site.site_id)  # no flush: the pump delivers

    await wait_for(lambda: len(receiver.bodies) == 1)
    assert receiver.events()[0].event_type == "AppInstalled"
    assert only(await control.webhook_deliveries()).state == "delivered"


async def test_remove_and_reinstall_within_a_second_get_distinct_iat(
    state: EmulatorState, world: World, receiver: Receiver
) -> None:
    state.uninstall(world.instance_id)
    state.install(world.app.app_id, world.site.site_id)
    await state.webhooks.flush()

    removed, installed = receiver.events()
    assert removed.issued_at is not None
    assert installed.issued_at is not None
    assert installed.issued_at > removed.issued_at
    assert removed.dedupe_key != installed.dedupe_key


# ---- failures and Wix's retry schedule


async def test_failures_are_retried_on_wix_schedule_on_the_emulator_clock(
    state: EmulatorState, control: EmulatorControl, world: World, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 13
    state.uninstall(world.instance_id)
    first = only(await control.flush_webhooks())
    assert [a.status for a in first.attempts] == [500]
    assert first.next_attempt_at == pytest.approx(first.attempts[0].at + 60, abs=0.01)

    for number, delay in enumerate(RETRY_SCHEDULE, start=2):
        await control.advance_clock(delay - 2)
        assert len(only(await control.flush_webhooks()).attempts) == number - 1  # not yet
        await control.advance_clock(2)
        delivery = only(await control.flush_webhooks())
        assert len(delivery.attempts) == number

    assert delivery.state == "failed"
    assert delivery.next_attempt_at is None
    assert [a.number for a in delivery.attempts] == list(range(1, 14))
    assert not any(a.ok for a in delivery.attempts)
    await control.advance_clock(7 * 86_400)
    assert len(only(await control.flush_webhooks()).attempts) == 13  # given up
    assert len(receiver.bodies) == 13


async def test_a_retry_that_succeeds_ends_the_delivery(
    state: EmulatorState, world: World, receiver: Receiver
) -> None:
    receiver.statuses = [503, 404]
    state.uninstall(world.instance_id)
    await state.webhooks.flush()
    state.advance_clock(60)
    await state.webhooks.flush()
    state.advance_clock(600)
    delivery = only(await state.webhooks.flush())

    assert [a.status for a in delivery.attempts] == [503, 404, 200]
    assert [a.ok for a in delivery.attempts] == [False, False, True]
    assert delivery.state == "delivered"
    events = receiver.events()
    assert len({e.issued_at for e in events}) == 1  # every attempt: the same iat…
    assert len({e.dedupe_key for e in events}) == 1  # …so the backend sees one event
    assert events[0].expires_at is not None
    assert events[2].expires_at is not None
    assert events[2].expires_at > events[0].expires_at  # …with a fresh exp


async def test_advancing_the_clock_wakes_the_pump(
    state: EmulatorState, control: EmulatorControl, world: World, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    await control.uninstall(world.instance_id)
    await wait_for(lambda: len(receiver.bodies) == 1)
    await asyncio.sleep(0.05)
    assert len(receiver.bodies) == 1  # the retry waits for the emulator clock

    await control.advance_clock(60)  # no flush: the pump notices the clock move

    await wait_for(lambda: len(receiver.bodies) == 2)
    delivery = only(await control.webhook_deliveries())
    assert [a.status for a in delivery.attempts] == [500, 200]


async def test_closing_stops_the_pump_even_in_the_turn_that_wakes_it(
    state: EmulatorState, world: World, receiver: Receiver
) -> None:
    """A close in the same loop turn as a wake-up stops the pump: Python 3.11's
    ``asyncio.wait_for`` returned the woken wait instead of the cancellation, and the pump
    went on waiting for the pending retry, so ``aclose`` never returned."""
    receiver.statuses = [500]
    state.uninstall(world.instance_id)
    await wait_for(lambda: len(receiver.bodies) == 1)
    await asyncio.sleep(0.05)  # the pump waits for the retry's time
    assert only(state.webhooks.deliveries()).state == "pending"

    async def wake_and_close() -> None:
        state.webhooks.clock_moved()  # wakes the pump...
        await state.webhooks.aclose()  # ...and cancels it before it runs

    closing = asyncio.create_task(wake_and_close())
    done, _ = await asyncio.wait([closing], timeout=3)

    assert closing in done, "aclose still waits for the pump"
    assert len(receiver.bodies) == 1


async def test_a_slow_receiver_times_out_after_1250_ms(
    state: EmulatorState, world: World, receiver: Receiver
) -> None:
    receiver.delay = 2.0
    state.uninstall(world.instance_id)
    delivery = only(await state.webhooks.flush())

    attempt = delivery.attempts[0]
    assert not attempt.ok
    assert attempt.status is None
    assert attempt.error == f"no answer within {DELIVERY_TIMEOUT} s"
    assert DELIVERY_TIMEOUT <= attempt.seconds < DELIVERY_TIMEOUT + 0.5
    assert delivery.state == "pending"


async def test_a_connection_error_is_a_failure(
    state: EmulatorState, world: World, receiver: Receiver
) -> None:
    receiver.fail_with = httpx.ConnectError("connection refused")
    state.uninstall(world.instance_id)
    delivery = only(await state.webhooks.flush())

    assert delivery.attempts[0].error == "ConnectError: connection refused"
    assert delivery.state == "pending"


# ---- duplicates, holds, reordering


async def test_redeliver_sends_a_duplicate_of_the_same_event(
    state: EmulatorState, control: EmulatorControl, world: World, receiver: Receiver
) -> None:
    state.uninstall(world.instance_id)
    original = only(await control.flush_webhooks())
    duplicate = await control.redeliver_webhook(original.delivery_id)
    await control.flush_webhooks()

    assert duplicate.duplicate_of == original.delivery_id
    assert duplicate.issued_at == original.issued_at
    first, second = receiver.events()
    assert first.dedupe_key == second.dedupe_key
    assert (await control.webhook_delivery(duplicate.delivery_id)).state == "delivered"
    with pytest.raises(EmulatorNotFoundError):
        await control.redeliver_webhook("dlv-999")


async def test_held_events_are_released_in_any_order(
    state: EmulatorState, control: EmulatorControl, world: World, receiver: Receiver
) -> None:
    await control.hold_webhooks()
    await control.uninstall(world.instance_id)
    await control.install(world.app.app_id, world.site.site_id)
    held = await control.flush_webhooks()
    assert [(d.event_type, d.state) for d in held] == [
        ("AppRemoved", "held"),
        ("AppInstalled", "held"),
    ]
    assert receiver.bodies == []

    with pytest.raises(EmulatorNotFoundError):
        await control.release_webhooks(["dlv-999"])
    released = await control.release_webhooks([held[1].delivery_id])

    assert [d.event_type for d in released] == ["AppInstalled", "AppRemoved"]
    assert [e.event_type for e in receiver.events()] == ["AppInstalled", "AppRemoved"]
    assert not state.webhooks.holding
    await control.hold_webhooks()
    with pytest.raises(EmulatorConflictError):  # delivered already, not held
        await control.release_webhooks([held[0].delivery_id])


async def test_reset_forgets_urls_and_the_log(
    state: EmulatorState, control: EmulatorControl, world: World, receiver: Receiver
) -> None:
    state.uninstall(world.instance_id)
    await state.webhooks.flush()
    await control.reset()

    assert await control.webhook_deliveries() == []
    app = state.register_app(world.app.app_id)
    site = state.create_site()
    state.install(app.app_id, site.site_id)
    assert await state.webhooks.flush() == []  # the URL went with the reset


# ---- events on request: domain events and any event without a change of state


async def test_a_domain_event_is_emitted_on_request_and_read_as_the_sdk_reads_it(
    state: EmulatorState, control: EmulatorControl, world: World, receiver: Receiver
) -> None:
    contact = {"id": "c-1", "info": {"name": {"first": "Ada"}}}
    event = await control.emit_event(
        world.instance_id,
        "wix.contacts.v4.contact_updated",
        entity=contact,
        modified_fields={"info.name.first": "Ada"},
    )
    log = await control.flush_webhooks()

    assert event.app_id == world.app.app_id
    assert only(log).state == "delivered"
    (received,) = receiver.events()
    domain_event = received.domain_event()
    assert domain_event is not None
    assert domain_event.kind == "updated"
    assert domain_event.entity == contact
    assert domain_event.modified_fields == {"info.name.first": "Ada"}
    metadata = domain_event.metadata
    assert (metadata.entity_fqdn, metadata.slug, metadata.entity_id) == (
        "wix.contacts.v4.contact",
        "updated",
        "c-1",
    )
    assert metadata.event_time is not None
    assert metadata.event_time.timestamp() == pytest.approx(event.at, abs=0.001)
    assert received.account is not None
    assert received.account.site_id == world.site.site_id
    assert state.installation(world.instance_id).installed  # nothing else changed


@pytest.mark.parametrize(
    ("event_type", "kind", "field", "expected"),
    [
        ("wix.stores.v1.product_created", "created", "entity", {"id": "p-1"}),
        ("wix.stores.v1.product_deleted", "deleted", "entity", {"id": "p-1"}),
        ("wix.ecom.v1.order_approved", "action", "action_body", {"order": {"id": "o-1"}}),
    ],
)
async def test_each_kind_of_domain_event_is_built_from_its_name(
    state: EmulatorState,
    world: World,
    receiver: Receiver,
    event_type: str,
    kind: str,
    field: str,
    expected: dict[str, object],
) -> None:
    state.emit_event(world.instance_id, event_type, **{field: expected})
    await state.webhooks.flush()

    domain_event = receiver.events()[0].domain_event()
    assert domain_event is not None
    assert domain_event.kind == kind
    assert getattr(domain_event, field) == expected


async def test_any_event_is_sent_as_given_without_changing_the_state(
    state: EmulatorState, control: EmulatorControl, world: World, receiver: Receiver
) -> None:
    await control.emit_event(
        world.instance_id,
        "AppRemoved",
        data={"appId": world.app.app_id},
        identity={"identityType": "WIX_USER", "wixUserId": "u-1"},
    )
    await control.flush_webhooks()

    (received,) = receiver.events()
    assert (received.event_type, received.data) == ("AppRemoved", {"appId": world.app.app_id})
    assert received.actor.wix_user_id == "u-1"
    assert received.account_info is None  # only domain events carry one unless asked
    assert received.domain_event() is None
    assert state.installation(world.instance_id).installed


async def test_a_signed_body_on_request_verifies_with_the_emulators_key(
    state: EmulatorState, control: EmulatorControl, world: World
) -> None:
    body = await control.sign_webhook(
        "not-installed-anywhere",
        "wix.contacts.v4.contact_deleted",
        entity={"id": "c-9"},
        app_id=world.app.app_id,
    )

    event = verify_webhook(body, state.webhook_public_key(world.app.app_id), now=state.now())
    assert event.instance_id == "not-installed-anywhere"
    domain_event = event.domain_event()
    assert domain_event is not None
    assert domain_event.entity == {"id": "c-9"}
    assert state.webhook_deliveries() == []  # signed, not sent
    with pytest.raises(EmulatorNotFoundError):
        await control.emit_event("not-installed-anywhere", "AppInstalled")
