"""Every adapter, driven by its framework's own test client against the in-process emulator.

The same behaviours on the FastAPI backend (with an app's own routes), Starlette and Quart
(the plain ASGI middleware), Flask and Django (sync and async clients): identification,
tenant isolation, another app's token, an expired token, Wix down (answered 503, logged
once), webhook verification, a removed app refused at once (its cached token and its legacy
value), the legacy ``instance`` parameter and the CORS preflight of a widget. The per-instance
data helpers (FastAPI's ``InstanceDB``, Flask's ``instance_db()``, Django's ``TenantManager``):
rows isolated per instance, and purged by an ``AppRemoved`` handler.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator

import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.testing import InstallFactory, TokenFactory
from wixapp.web import answers

from .apps import ROLLED_BACK, Probe, Reply
from .conftest import SITE_ORIGIN, AdapterSetup

pytestmark = pytest.mark.filterwarnings("error")

FRAMEWORKS = ["fastapi", "starlette", "quart", "flask", "django", "django-async"]
STORING = ["fastapi", "flask", "django", "django-async"]  # with a per-instance data helper


@pytest.fixture(params=FRAMEWORKS)
async def probe(request: pytest.FixtureRequest, adapter: AdapterSetup) -> AsyncIterator[Probe]:
    async with adapter.open(request.param) as opened:
        yield opened


@pytest.fixture(params=STORING)
async def storing(request: pytest.FixtureRequest, adapter: AdapterSetup) -> AsyncIterator[Probe]:
    async with adapter.open(request.param) as opened:
        yield opened


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": token, **extra}


# -- identification ------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "Bearer "])
async def test_identifies_the_caller(
    probe: Probe, wix_instance: Installation, wix_token: TokenFactory, prefix: str
) -> None:
    reply = await probe.request(
        "GET", "/api/whoami", headers=auth(prefix + wix_token(wix_instance.instance_id))
    )
    assert reply.status == 200, reply.body
    assert reply.body["instanceId"] == wix_instance.instance_id
    assert reply.body["siteId"] == wix_instance.site_id
    assert reply.body["subjectType"] == "VISITOR"


async def test_a_request_without_a_token_gets_the_json_401(probe: Probe) -> None:
    reply = await probe.request("GET", "/api/whoami")
    assert reply.status == 401
    assert reply.body["error"] == "missing_token"
    assert reply.header(
        "www-authenticate",
    ).startswith("Bearer ")  # type: ignore[union-attr]


# -- tenant isolation ----------------------------------------------------------------------


async def test_each_instance_sees_only_its_own_data(
    probe: Probe, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    bakery, florist = wix_install(display_name="Bakery"), wix_install(display_name="Florist")
    bakery_token, florist_token = wix_token(bakery.instance_id), wix_token(florist.instance_id)

    written = await probe.request(
        "POST", "/api/notes", headers=auth(bakery_token), body=json.dumps({"text": "rye"}).encode()
    )
    assert written.status == 200, written.body

    theirs = await probe.request("GET", "/api/notes", headers=auth(florist_token))
    ours = await probe.request("GET", "/api/notes", headers=auth(bakery_token))
    assert theirs.body == {"instanceId": florist.instance_id, "notes": []}
    assert ours.body == {"instanceId": bakery.instance_id, "notes": ["rye"]}


async def add_record(probe: Probe, token: str, text: str) -> Reply:
    body = json.dumps({"text": text}).encode()
    return await probe.request("POST", "/api/records", headers=auth(token), body=body)


async def records_of(probe: Probe, token: str) -> list[str]:
    reply = await probe.request("GET", "/api/records", headers=auth(token))
    assert reply.status == 200, reply.body
    return list(reply.body["records"])


async def test_stored_rows_are_isolated_per_instance(
    storing: Probe, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    bakery, florist = wix_install(display_name="Bakery"), wix_install(display_name="Florist")
    bakery_token, florist_token = wix_token(bakery.instance_id), wix_token(florist.instance_id)
    rye = await add_record(storing, bakery_token, "rye")
    assert rye.status == 200, rye.body
    await add_record(storing, florist_token, "tulip")

    theirs = await storing.request(
        "DELETE", f"/api/records/{rye.body['id']}", headers=auth(florist_token)
    )
    assert theirs.status == 404  # another site's row is not there for this one
    assert await records_of(storing, bakery_token) == ["rye"]
    assert await records_of(storing, florist_token) == ["tulip"]

    ours = await storing.request(
        "DELETE", f"/api/records/{rye.body['id']}", headers=auth(bakery_token)
    )
    assert ours.status == 204
    assert await records_of(storing, bakery_token) == []
    assert await records_of(storing, florist_token) == ["tulip"]


async def test_app_removed_purges_the_instances_rows_and_a_reinstall_starts_empty(
    storing: Probe,
    adapter: AdapterSetup,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    bakery, florist = wix_install(display_name="Bakery"), wix_install(display_name="Florist")
    await add_record(storing, wix_token(bakery.instance_id), "rye")
    await add_record(storing, wix_token(florist.instance_id), "tulip")
    purged = threading.Event()  # handlers run in order: this one after the app's purge
    adapter.webhooks.on("AppRemoved")(lambda _event: purged.set())

    removed = adapter.signed("AppRemoved", bakery.instance_id, {})
    applied = await storing.request("POST", "/webhooks", body=removed.encode())
    assert applied.status == 200, applied.body
    assert await asyncio.to_thread(purged.wait, 5), "the AppRemoved handlers did not run"

    wix_emulator_state.advance_clock(1)
    app_id = adapter.settings.app_id
    installed = adapter.signed("AppInstalled", bakery.instance_id, {"appId": app_id})
    assert (await storing.request("POST", "/webhooks", body=installed.encode())).status == 200
    assert await records_of(storing, wix_token(bakery.instance_id)) == []
    assert await records_of(storing, wix_token(florist.instance_id)) == ["tulip"]


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
async def test_a_request_answered_with_an_error_keeps_none_of_its_writes(
    adapter: AdapterSetup, wix_instance: Installation, wix_token: TokenFactory, framework: str
) -> None:
    token = wix_token(wix_instance.instance_id)
    async with adapter.open(framework) as probe:
        refused = await add_record(probe, token, ROLLED_BACK)
        assert refused.status == 409
        assert await records_of(probe, token) == []


# -- refusals ------------------------------------------------------------------------------


async def test_another_apps_token_is_refused(
    probe: Probe,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    other_app = wix_emulator_state.register_app()
    token = wix_token(wix_instance.instance_id, app_id=other_app.app_id)
    reply = await probe.request("GET", "/api/whoami", headers=auth(token))
    assert reply.status == 401
    assert reply.body["error"] == "wrong_app"


async def test_an_expired_token_is_refused(
    probe: Probe,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id, lifetime=60)
    before = await probe.request("GET", "/api/whoami", headers=auth(token))  # now cached
    wix_emulator_state.advance_clock(3600)
    after = await probe.request("GET", "/api/whoami", headers=auth(token))
    assert before.status == 200
    assert after.status == 401  # the cached answer never outlives the token
    assert after.body["error"] == "expired_token"  # Wix refused it; its payload says why


async def test_wix_down_is_a_503_with_retry_after(
    probe: Probe,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    wix_emulator_state.add_fault("token-info", status=503)
    reply = await probe.request(
        "GET", "/api/whoami", headers=auth(wix_token(wix_instance.instance_id))
    )
    assert reply.status == 503
    assert reply.body["error"] == "upstream_unavailable"
    assert int(reply.header("retry-after") or 0) >= 1


async def test_wix_down_is_logged_once_whatever_the_door(
    probe: Probe,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers._answered_5xx._last.clear()  # another test may have logged it this minute
    wix_emulator_state.add_fault("token-info", status=503)
    with caplog.at_level(logging.WARNING, logger="wixapp"):
        for _ in range(20):
            token = wix_token(wix_instance.instance_id)  # a new token: a Wix call each
            reply = await probe.request("GET", "/api/whoami", headers=auth(token))
            assert reply.status == 503
    lines = [r.getMessage() for r in caplog.records if "answering 503" in r.getMessage()]
    codes = [line.split()[2].rstrip(":") for line in lines]  # "answering 503 <code>: …"
    # One line per code (Wix's 503, then the open circuit), not one per request.
    assert 1 <= len(lines) == len(set(codes)) <= 2, lines


# -- removal -------------------------------------------------------------------------------


async def test_a_removed_app_is_refused_at_once_its_cached_token_and_legacy_value_too(
    probe: Probe,
    adapter: AdapterSetup,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    legacy = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    assert (await probe.request("GET", "/api/whoami", headers=auth(token))).status == 200
    assert (await probe.request("GET", f"/api/whoami?instance={legacy}")).status == 200

    removed = adapter.signed("AppRemoved", wix_instance.instance_id, {})
    applied = await probe.request("POST", "/webhooks", body=removed.encode())
    assert applied.body == {"status": "applied", "eventType": "AppRemoved"}

    cached = await probe.request("GET", "/api/whoami", headers=auth(token))
    signed = await probe.request("GET", f"/api/whoami?instance={legacy}")
    assert (cached.status, cached.body["error"]) == (401, "app_removed")
    assert (signed.status, signed.body["error"]) == (401, "app_removed")


# -- webhooks ------------------------------------------------------------------------------


async def test_webhooks_are_verified_applied_once_and_handled(
    probe: Probe,
    adapter: AdapterSetup,
    wix_instance: Installation,
    wix_emulator_state: EmulatorState,
) -> None:
    body = adapter.signed(
        "AppInstalled", wix_instance.instance_id, {"appId": adapter.settings.app_id}
    )

    first = await probe.request("POST", "/webhooks", body=body.encode())
    again = await probe.request("POST", "/webhooks", body=body.encode())

    assert (first.status, first.body) == (200, {"status": "applied", "eventType": "AppInstalled"})
    assert again.body["status"] == "duplicate"
    assert adapter.handled.wait(5), "the webhook handler did not run"
    assert [e.instance_id for e in adapter.events] == [wix_instance.instance_id]


async def test_forged_or_malformed_webhooks_are_refused(
    probe: Probe, adapter: AdapterSetup, wix_instance: Installation
) -> None:
    forged = adapter.signed("AppRemoved", wix_instance.instance_id, {}, forged=True)
    refused = await probe.request("POST", "/webhooks", body=forged.encode())
    junk = await probe.request("POST", "/webhooks", body=b"not a jwt")
    # Signed with the app's key, but for another app (one key for several apps).
    foreign = adapter.signed("AppInstalled", "inst-elsewhere", {"appId": "another-app"})
    other_app = await probe.request("POST", "/webhooks", body=foreign.encode())
    assert (refused.status, refused.body["error"]) == (401, "invalid_webhook_signature")
    assert (junk.status, junk.body["error"]) == (400, "invalid_webhook")
    assert (other_app.status, other_app.body["error"]) == (400, "webhook_for_another_app")
    assert adapter.events == []


# -- the legacy parameter ------------------------------------------------------------------


async def test_the_legacy_instance_parameter_identifies_locally(
    probe: Probe, wix_instance: Installation, wix_emulator_state: EmulatorState
) -> None:
    value = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    reply = await probe.request("GET", f"/api/whoami?instance={value}")
    tampered = await probe.request("GET", f"/api/whoami?instance=A{value}")
    assert reply.status == 200, reply.body
    assert (reply.body["instanceId"], reply.body["subjectType"]) == (
        wix_instance.instance_id,
        "USER",
    )
    assert tampered.status == 401
    assert tampered.body["error"] == "invalid_instance"
    assert wix_emulator_state.calls()["token-info"] == 0


# -- CORS ----------------------------------------------------------------------------------


async def test_a_widget_preflight_is_answered(probe: Probe) -> None:
    reply = await probe.request(
        "OPTIONS",
        "/api/whoami",
        headers={
            "Origin": SITE_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,x-wix-linguist",
        },
    )
    assert reply.status == 200
    assert reply.header("access-control-allow-origin") == SITE_ORIGIN
    assert reply.header("access-control-max-age") == "600"
    assert reply.header("access-control-expose-headers") is None  # the backend's preflight
    allowed = (reply.header("access-control-allow-headers") or "").lower()
    assert "authorization" in allowed
    assert "x-wix-linguist" in allowed


async def test_a_foreign_origin_is_refused_at_preflight_in_json_and_logged_once(
    probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    origin = f"https://evil-{probe.name}.example"  # a new origin per door: each logs its own
    asking = {"Origin": origin, "Access-Control-Request-Method": "GET"}
    with caplog.at_level(logging.WARNING, logger="wixapp"):
        replies = [await probe.request("OPTIONS", "/api/whoami", headers=asking) for _ in "ab"]
    for reply in replies:
        assert reply.status == 400
        assert reply.header("access-control-allow-origin") is None
        assert reply.body["error"] == "cors_origin_refused"
        assert "WIXAPP_CORS_ORIGINS" in reply.body["detail"]
    lines = [r.getMessage() for r in caplog.records if "refused a cross-origin" in r.getMessage()]
    assert len(lines) == 1
    assert origin in lines[0]


async def test_a_refused_method_is_answered_in_json(probe: Probe, adapter: AdapterSetup) -> None:
    adapter.config["WIXAPP_CORS_METHODS"] = "GET"
    async with adapter.open(probe.name) as narrowed:
        reply = await narrowed.request(
            "OPTIONS",
            "/api/notes",
            headers={"Origin": SITE_ORIGIN, "Access-Control-Request-Method": "DELETE"},
        )
    assert reply.status == 400
    assert reply.body["error"] == "cors_request_refused"
    assert "method" in reply.body["detail"]


async def test_answers_and_errors_carry_cors_headers(
    probe: Probe, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    ok = await probe.request(
        "GET", "/api/whoami", headers=auth(wix_token(wix_instance.instance_id), Origin=SITE_ORIGIN)
    )
    refused = await probe.request("GET", "/api/whoami", headers={"Origin": SITE_ORIGIN})
    for reply in (ok, refused):
        assert reply.header("access-control-allow-origin") == SITE_ORIGIN
        assert "retry-after" in (reply.header("access-control-expose-headers") or "").lower()
    assert (ok.status, refused.status) == (200, 401)


async def test_preflights_allow_any_method_unless_the_settings_narrow_them(
    probe: Probe, adapter: AdapterSetup
) -> None:
    asking = {"Origin": SITE_ORIGIN, "Access-Control-Request-Method": "DELETE"}
    allowed = await probe.request("OPTIONS", "/api/notes", headers=asking)
    adapter.config["WIXAPP_CORS_METHODS"] = "GET,POST"
    async with adapter.open(probe.name) as narrowed:
        refused = await narrowed.request("OPTIONS", "/api/notes", headers=asking)
    assert allowed.status == 200
    assert refused.status == 400
