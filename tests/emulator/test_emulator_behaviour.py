"""The switchable UNCONFIRMED behaviours, call counting, the clock, and the control API."""

from __future__ import annotations

import time

import httpx
import pytest
from emulator_testkit import World, app_token, elevate, get_instance, token_info

import wixapp.emulator
from wixapp.emulator import (
    Behaviour,
    EmulatorConflictError,
    EmulatorControl,
    EmulatorError,
    EmulatorNotFoundError,
    EmulatorState,
    FaultSpec,
    LifecycleEvent,
)
from wixapp.emulator.records import ValueStyle
from wixapp.models import SubjectType

# ---- token-info on an invalid token


async def test_invalid_token_answers_401_by_default(wix: httpx.AsyncClient) -> None:
    response = await token_info(wix, "expired-or-garbage")

    assert response.status_code == 401
    assert response.json()["details"]["applicationError"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(("style", "active"), [("string", "false"), ("native", False)])
async def test_invalid_token_can_answer_inactive(
    wix: httpx.AsyncClient, state: EmulatorState, world: World, style: ValueStyle, active: object
) -> None:
    state.set_behaviour(token_info_invalid="inactive", value_style=style)
    token = state.mint_token(world.instance_id, lifetime=10).token
    state.advance_clock(11)

    response = await token_info(wix, token)

    assert response.status_code == 200
    assert response.json() == {"active": active}


async def test_native_values(wix: httpx.AsyncClient, state: EmulatorState, world: World) -> None:
    state.set_behaviour(value_style="native")
    minted = state.mint_token(world.instance_id, "MEMBER")

    body = (await token_info(wix, minted.token)).json()

    assert body["active"] is True
    assert body["exp"] == minted.exp
    assert isinstance(body["iat"], int)
    assert body["subjectType"] == "MEMBER"


# ---- /oauth2/token error style


async def test_token_errors_in_oauth_style(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.set_behaviour(token_error_style="oauth")
    wrong = world.app.model_copy(update={"app_secret": "wrong"})

    refused = await elevate(wix, wrong, world.instance_id)
    foreign = await elevate(wix, world.app, world.other_installation.instance_id)

    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert set(refused.json()) == {"error", "error_description"}
    assert foreign.status_code == 400
    assert foreign.json()["error"] == "invalid_grant"


async def test_token_errors_in_wix_style_by_default(wix: httpx.AsyncClient, world: World) -> None:
    wrong = world.app.model_copy(update={"app_secret": "wrong"})

    body = (await elevate(wix, wrong, world.instance_id)).json()

    assert set(body) == {"message", "details"}


async def test_oauth_style_leaves_other_endpoints_alone(
    wix: httpx.AsyncClient, state: EmulatorState
) -> None:
    state.set_behaviour(token_error_style="oauth")

    body = (await get_instance(wix, "garbage")).json()

    assert "applicationError" in body["details"]


# ---- rate limit


async def test_rate_limit_is_off_by_default(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    token = state.mint_token(world.instance_id).token

    statuses = {(await token_info(wix, token)).status_code for _ in range(205)}

    assert statuses == {200}


async def test_rate_limit_per_instance(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.set_behaviour(rate_limit=True)
    token = await app_token(wix, world.app, world.instance_id)  # call 1 of 200
    for _ in range(133):
        assert (await token_info(wix, token)).status_code == 200
    for _ in range(66):
        assert (await get_instance(wix, token)).status_code == 200

    limited = await token_info(wix, token)

    assert limited.status_code == 429
    assert limited.json()["details"]["applicationError"]["code"] == "RESOURCE_EXHAUSTED"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert (await elevate(wix, world.app, world.instance_id)).status_code == 429
    other = await app_token(wix, world.other_app, world.other_installation.instance_id)
    assert (await get_instance(wix, other)).status_code == 200

    state.advance_clock(60)

    assert (await token_info(wix, token)).status_code == 200


async def test_rate_limit_window_slides(
    wix: httpx.AsyncClient, state: EmulatorState, world: World
) -> None:
    state.set_behaviour(rate_limit=True)
    token = state.mint_token(world.instance_id).token
    for _ in range(100):
        await token_info(wix, token)
    state.advance_clock(30)
    for _ in range(100):
        assert (await token_info(wix, token)).status_code == 200
    assert (await token_info(wix, token)).status_code == 429

    state.advance_clock(31)  # the first 100 are now over a minute old, the last 100 are not

    for _ in range(100):
        assert (await token_info(wix, token)).status_code == 200
    assert (await token_info(wix, token)).status_code == 429


# ---- call counting


async def test_calls_are_counted_per_endpoint(
    wix: httpx.AsyncClient, control: EmulatorControl, state: EmulatorState, world: World
) -> None:
    assert await control.calls() == {"token-info": 0, "token": 0, "instance": 0}
    token = await app_token(wix, world.app, world.instance_id)
    await token_info(wix, token)
    await token_info(wix, "garbage")
    await get_instance(wix, token)
    state.add_fault("instance", status=503)
    await get_instance(wix, token)

    assert await control.calls() == {"token-info": 2, "token": 1, "instance": 2}
    assert state.calls() == {"token-info": 2, "token": 1, "instance": 2}

    await control.reset_calls()

    assert await control.calls() == {"token-info": 0, "token": 0, "instance": 0}


# ---- clock


async def test_clock(control: EmulatorControl, state: EmulatorState) -> None:
    before = await control.now()
    assert abs(before - time.time()) < 5

    after = await control.advance_clock(3600)

    assert after - before >= 3600
    assert state.now() - time.time() >= 3599
    with pytest.raises(EmulatorError):
        await control.advance_clock(-1)


# ---- the control API end to end


async def test_world_through_the_control_api(
    wix: httpx.AsyncClient, control: EmulatorControl
) -> None:
    app = await control.register_app("my-app", "my-secret")
    site = await control.create_site(display_name="Shop", url="https://shop.example", site_id="s1")
    installation = await control.install(app.app_id, site.site_id, instance_id="i1")
    minted = await control.mint_token(installation.instance_id, "USER", lifetime=60)

    body = (await token_info(wix, minted.token)).json()

    assert (app.app_id, app.app_secret) == ("my-app", "my-secret")
    assert (site.site_id, site.url, site.locale, site.payment_currency) == (
        "s1",
        "https://shop.example",
        "en",
        "USD",
    )
    assert installation.instance_id == "i1"
    assert minted.subject_type is SubjectType.USER
    assert int(body["exp"]) == minted.exp
    assert body["siteId"] == "s1"


async def test_plans_and_reinstall_through_the_control_api(
    wix: httpx.AsyncClient, control: EmulatorControl
) -> None:
    app = await control.register_app()
    site = await control.create_site()
    first = await control.install(app.app_id, site.site_id)

    paid = await control.set_plan(first.instance_id, package_name="pro", billing_cycle="YEARLY")
    removed = await control.uninstall(first.instance_id)
    again = await control.install(app.app_id, site.site_id)

    assert (paid.is_free, paid.package_name, paid.billing_cycle) == (False, "pro", "YEARLY")
    assert removed.installed is False
    assert again.instance_id == first.instance_id
    assert (await control.installation(first.instance_id)).installed
    events = [event.event_type for event in await control.events()]
    assert events == ["AppInstalled", "PaidPlanPurchased", "AppRemoved", "AppInstalled"]


async def test_revoke_through_the_control_api(
    wix: httpx.AsyncClient, control: EmulatorControl, world: World
) -> None:
    minted = await control.mint_token(world.instance_id)

    await control.revoke_token(minted.token)

    assert (await token_info(wix, minted.token)).status_code == 401
    with pytest.raises(EmulatorError):
        await control.revoke_token("not-ours")


async def test_legacy_instance_through_the_control_api(
    wix: httpx.AsyncClient, control: EmulatorControl, world: World
) -> None:
    value = await control.sign_legacy_instance(world.instance_id, permissions=None)

    assert (await token_info(wix, value)).json()["subjectType"] == "VISITOR"


async def test_control_errors(control: EmulatorControl, world: World) -> None:
    with pytest.raises(EmulatorNotFoundError):
        await control.install("no-such-app", world.site.site_id)
    with pytest.raises(EmulatorNotFoundError):
        await control.mint_token("no-such-instance")
    with pytest.raises(EmulatorConflictError):
        await control.register_app(world.app.app_id)
    with pytest.raises(EmulatorConflictError):
        await control.install(world.app.app_id, world.site.site_id, instance_id="different")
    with pytest.raises(EmulatorError) as bad_subject:
        await control.mint_token(world.instance_id, "ROBOT")
    assert "subject_type" in bad_subject.value.detail


async def test_control_rejects_unknown_fields(control_http: httpx.AsyncClient) -> None:
    response = await control_http.post("/_emulator/sites", json={"displayNmae": "typo"})

    assert response.status_code == 400
    assert response.json()["error"] == "emulator_invalid_body"


async def test_behaviour_through_the_control_api(control: EmulatorControl) -> None:
    assert await control.behaviour() == Behaviour()

    changed = await control.set_behaviour(value_style="native", rate_limit=True)

    assert changed == Behaviour(value_style="native", rate_limit=True)
    assert await control.set_behaviour(token_error_style="oauth") == Behaviour(
        value_style="native", rate_limit=True, token_error_style="oauth"
    )
    with pytest.raises(EmulatorError):
        await control.set_behaviour(value_style="weird")  # type: ignore[arg-type]


async def test_reset(
    wix: httpx.AsyncClient, control: EmulatorControl, state: EmulatorState, world: World
) -> None:
    token = await app_token(wix, world.app, world.instance_id)
    await control.set_behaviour(value_style="native")
    await control.add_fault(FaultSpec(latency=0.01))
    await control.advance_clock(100)

    await control.reset()

    assert state.behaviour == Behaviour()
    assert state.faults.active() == {}
    assert await control.calls() == {"token-info": 0, "token": 0, "instance": 0}
    assert abs(state.now() - time.time()) < 5
    assert (await token_info(wix, token)).status_code == 401
    with pytest.raises(EmulatorNotFoundError):
        await control.installation(world.instance_id)


# ---- state details


def test_seed_makes_ids_repeatable() -> None:
    first, second = EmulatorState(seed=1), EmulatorState(seed=1)

    assert first.register_app() == second.register_app()
    assert EmulatorState().register_app() != EmulatorState().register_app()


def test_lifecycle_listener(state: EmulatorState) -> None:
    seen: list[LifecycleEvent] = []
    unsubscribe = state.subscribe(seen.append)
    app, site = state.register_app(), state.create_site()

    installation = state.install(app.app_id, site.site_id)
    state.set_plan(installation.instance_id, package_name="a", billing_cycle="MONTHLY")
    state.set_plan(installation.instance_id, package_name="b", billing_cycle="YEARLY")
    unsubscribe()
    state.uninstall(installation.instance_id)

    assert [event.event_type for event in seen] == [
        "AppInstalled",
        "PaidPlanPurchased",
        "PaidPlanChanged",
    ]
    assert seen[2].data["previousVendorProductId"] == "a"
    assert state.events[-1].event_type == "AppRemoved"


def test_secrets_stay_out_of_repr(state: EmulatorState, world: World) -> None:
    minted = state.mint_token(world.instance_id)

    assert world.app.app_secret not in repr(world.app)
    assert minted.token not in repr(minted)


def test_exported_names() -> None:
    assert set(wixapp.emulator.__all__) == {
        "EMULATOR_BASE_URL",
        "Behaviour",
        "DashboardServer",
        "DeliveryAttempt",
        "EmulatorConflictError",
        "EmulatorControl",
        "EmulatorError",
        "EmulatorNotFoundError",
        "EmulatorServer",
        "EmulatorState",
        "Endpoint",
        "FaultSpec",
        "Installation",
        "LifecycleEvent",
        "MintedToken",
        "RegisteredApp",
        "Site",
        "WebhookDeliverer",
        "WebhookDelivery",
        "create_emulator",
        "serve",
    }
