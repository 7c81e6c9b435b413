"""The backend over real HTTP (in-process ASGI), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.testing import InstallFactory, TokenFactory, open_backend

from .conftest import AppFactory

pytestmark = pytest.mark.filterwarnings("error")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


# -- identification -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/get-instance", "/api/get-instance"])
@pytest.mark.parametrize("prefix", ["", "Bearer "])
async def test_get_instance_names_the_instance(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_token: TokenFactory,
    path: str,
    prefix: str,
) -> None:
    response = await backend.get(path, headers=auth(prefix + wix_token(wix_instance.instance_id)))
    assert response.status_code == 200
    body = response.json()
    assert body["instanceId"] == wix_instance.instance_id
    assert body["siteId"] == wix_instance.site_id
    assert body["subjectType"] == "VISITOR"
    assert body["subjectId"]
    assert set(body) == {"instanceId", "subjectType", "subjectId", "siteId"}


async def test_include_instance_adds_elevated_data(
    backend: httpx.AsyncClient, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    installed = wix_install(display_name="Bakery", is_free=False, package_name="pro")
    response = await backend.get(
        "/get-instance?include=instance", headers=auth(wix_token(installed.instance_id))
    )
    assert response.status_code == 200
    data = response.json()
    assert data["instance"]["instance"]["instanceId"] == installed.instance_id
    assert data["instance"]["site"]["siteDisplayName"] == "Bakery"
    assert data["instanceStale"] is False


async def test_100_include_instance_requests_mint_one_app_token(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    tokens = [wix_token(wix_instance.instance_id) for _ in range(10)]
    wix_emulator_state.add_fault("token", latency=0.05)
    responses = await asyncio.gather(
        *(
            backend.get("/get-instance?include=instance", headers=auth(tokens[i % 10]))
            for i in range(100)
        )
    )
    assert {r.status_code for r in responses} == {200}
    calls = wix_emulator_state.calls()
    assert calls["token"] == 1
    assert calls["instance"] == 1
    assert calls["token-info"] == 10


async def test_the_warm_path_makes_no_upstream_call(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    await backend.get("/get-instance?include=instance", headers=auth(token))
    before = wix_emulator_state.calls()
    for _ in range(50):
        response = await backend.get("/get-instance?include=instance", headers=auth(token))
        assert response.status_code == 200
    assert wix_emulator_state.calls() == before


async def test_stale_instance_data_is_served_when_wix_is_down(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id)
    fresh = await backend.get("/get-instance?include=instance", headers=auth(token))
    wix_emulator_state.advance_clock(76)  # past the instance cache's 60 s and its grace
    wix_emulator_state.add_fault("instance", status=503)
    stale = await backend.get("/get-instance?include=instance", headers=auth(token))
    assert stale.status_code == 200
    assert stale.json()["instanceStale"] is True
    assert stale.json()["instance"] == fresh.json()["instance"]


# -- every refusal --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("not a token", "malformed_token"),
        ("OauthNG.JWS.aGVhZA.cGF5bG9hZA.Zm9yZ2Vk", "invalid_token"),
    ],
)
async def test_401_for_missing_malformed_and_invalid_tokens(
    backend: httpx.AsyncClient, header: str | None, code: str
) -> None:
    headers = {} if header is None else auth(header)
    response = await backend.get("/get-instance", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == code
    assert response.json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_401_for_an_expired_token(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    token = wix_token(wix_instance.instance_id, lifetime=60)
    wix_emulator_state.advance_clock(120)
    response = await backend.get("/get-instance", headers=auth(token))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


async def test_401_for_another_apps_token(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    other = wix_emulator_state.register_app()
    response = await backend.get(
        "/get-instance", headers=auth(wix_token(wix_instance.instance_id, app_id=other.app_id))
    )
    assert response.status_code == 401
    assert response.json()["error"] == "wrong_app"


async def test_429_with_retry_after_when_wix_throttles(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    wix_emulator_state.add_fault("token-info", status=429, retry_after=30)
    response = await backend.get("/get-instance", headers=auth(wix_token(wix_instance.instance_id)))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"
    assert response.json()["error"] == "rate_limited"


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 500}, {"malformed": True}])
async def test_5xx_when_wix_is_unavailable(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    fault: dict[str, object],
) -> None:
    wix_emulator_state.add_fault("token-info", **fault)  # type: ignore[arg-type]
    response = await backend.get("/get-instance", headers=auth(wix_token(wix_instance.instance_id)))
    expected = 502 if fault.get("malformed") else 503
    assert response.status_code == expected
    assert response.json()["error"].startswith("upstream")
    if expected == 503:
        assert int(response.headers["Retry-After"]) >= 1


async def test_422_for_an_unknown_include(
    backend: httpx.AsyncClient, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    response = await backend.get(
        "/get-instance?include=everything", headers=auth(wix_token(wix_instance.instance_id))
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


async def test_404_is_json(backend: httpx.AsyncClient) -> None:
    response = await backend.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# -- settings -------------------------------------------------------------------------------


async def test_a_user_saves_and_a_visitor_reads(
    backend: httpx.AsyncClient, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    owner = auth(wix_token(wix_instance.instance_id, "USER"))
    first = await backend.get("/api/settings", headers=owner)
    assert first.status_code == 200
    assert first.headers["ETag"] == '"v0"'
    assert first.json()["version"] == 0
    document = {**first.json()["settings"], "greeting": "Hi bakers"}
    saved = await backend.put(
        "/api/settings", json=document, headers={**owner, "If-Match": first.headers["ETag"]}
    )
    assert saved.status_code == 200
    assert saved.json()["version"] == 1
    visitor = auth(wix_token(wix_instance.instance_id, "VISITOR"))
    read = await backend.get("/api/settings", headers=visitor)
    assert read.json()["settings"]["greeting"] == "Hi bakers"
    assert read.headers["ETag"] == saved.headers["ETag"]


@pytest.mark.parametrize("subject", ["VISITOR", "MEMBER", "APP"])
async def test_403_for_non_user_writers(
    backend: httpx.AsyncClient, wix_instance: Installation, wix_token: TokenFactory, subject: str
) -> None:
    response = await backend.put(
        "/api/settings",
        json={"greeting": "hacked"},
        headers={**auth(wix_token(wix_instance.instance_id, subject)), "If-Match": "*"},
    )
    assert response.status_code == 403
    assert response.json()["error"] == "user_required"


async def test_412_on_a_stale_etag_and_nothing_lost(
    backend: httpx.AsyncClient, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    owner = auth(wix_token(wix_instance.instance_id, "USER"))
    one = await backend.put(
        "/api/settings", json={"greeting": "one"}, headers={**owner, "If-Match": '"v0"'}
    )
    assert one.status_code == 200
    two = await backend.put(
        "/api/settings",
        json={"greeting": "two"},
        headers={**owner, "If-Match": one.headers["ETag"]},
    )
    assert two.status_code == 200
    late = await backend.put(
        "/api/settings",
        json={"greeting": "late"},
        headers={**owner, "If-Match": one.headers["ETag"]},
    )
    assert late.status_code == 412
    assert late.headers["ETag"] == two.headers["ETag"]
    again = await backend.put(
        "/api/settings", json={"greeting": "again"}, headers={**owner, "If-Match": '"v0"'}
    )
    assert again.status_code == 412
    current = await backend.get("/api/settings", headers=owner)
    assert current.json()["settings"]["greeting"] == "two"


async def test_428_without_if_match(
    backend: httpx.AsyncClient, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    response = await backend.put(
        "/api/settings",
        json={"greeting": "x"},
        headers=auth(wix_token(wix_instance.instance_id, "USER")),
    )
    assert response.status_code == 428


async def test_413_for_oversized_settings(
    backend: httpx.AsyncClient, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    owner = auth(wix_token(wix_instance.instance_id, "USER"))
    body = '{"greeting": "' + "x" * 20_000 + '"}'
    response = await backend.put(
        "/api/settings",
        content=body,
        headers={**owner, "If-Match": "*", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_413_for_any_huge_body(backend: httpx.AsyncClient) -> None:
    response = await backend.put("/api/settings", content=b"x" * 2_000_000)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"greeting": 5}', "invalid_settings"),
        ('{"greeting": "hi", "unknown": 1}', "invalid_settings"),
        ('{"accentColor": "red"}', "invalid_settings"),
        ("[1, 2]", "invalid_settings"),
        ("not json", "invalid_json"),
        ("[" * 5000 + "]" * 5000, "invalid_json"),
    ],
)
async def test_422_and_400_for_bad_settings(
    backend: httpx.AsyncClient,
    wix_instance: Installation,
    wix_token: TokenFactory,
    body: str,
    code: str,
) -> None:
    response = await backend.put(
        "/api/settings",
        content=body,
        headers={
            **auth(wix_token(wix_instance.instance_id, "USER")),
            "If-Match": "*",
            "Content-Type": "application/json",
        },
    )
    assert response.json()["error"] == code
    assert response.status_code == (400 if code == "invalid_json" else 422)


async def test_tenant_isolation(
    backend: httpx.AsyncClient, wix_install: InstallFactory, wix_token: TokenFactory
) -> None:
    site_a, site_b = wix_install(), wix_install()
    owner_a = auth(wix_token(site_a.instance_id, "USER"))
    owner_b = auth(wix_token(site_b.instance_id, "USER"))
    saved = await backend.put(
        "/api/settings", json={"greeting": "only A"}, headers={**owner_a, "If-Match": '"v0"'}
    )
    assert saved.status_code == 200
    read_b = await backend.get("/api/settings", headers=auth(wix_token(site_b.instance_id)))
    assert read_b.json()["instanceId"] == site_b.instance_id
    assert read_b.json()["settings"]["greeting"] != "only A"
    # B's owner holding A's ETag writes B's settings, never A's.
    write_b = await backend.put(
        "/api/settings",
        json={"greeting": "only B"},
        headers={**owner_b, "If-Match": saved.headers["ETag"]},
    )
    assert write_b.status_code == 412
    read_a = await backend.get("/api/settings", headers=auth(wix_token(site_a.instance_id)))
    assert read_a.json()["settings"]["greeting"] == "only A"


# -- CORS, health, metrics, logs ------------------------------------------------------------


async def test_cors_preflight_allows_what_a_widget_sends(backend: httpx.AsyncClient) -> None:
    response = await backend.options(
        "/api/settings",
        headers={
            "Origin": "https://someone.wixsite.com",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type,x-wix-linguist,if-match",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://someone.wixsite.com")
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "content-type", "x-wix-linguist", "if-match"):
        assert header in allowed
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_cors_allow_list(make_app: AppFactory) -> None:
    app = make_app(WIXAPP_CORS_ORIGINS="https://mine.example")
    async with open_backend(app) as client:
        preflight = {"Access-Control-Request-Method": "GET"}
        good = await client.options(
            "/get-instance", headers={"Origin": "https://mine.example", **preflight}
        )
        bad = await client.options(
            "/get-instance", headers={"Origin": "https://evil.example", **preflight}
        )
    assert good.headers["Access-Control-Allow-Origin"] == "https://mine.example"
    assert bad.status_code == 400
    assert "Access-Control-Allow-Origin" not in bad.headers


async def test_health_readiness_and_metrics(
    backend: httpx.AsyncClient, wix_instance: Installation, wix_token: TokenFactory
) -> None:
    assert (await backend.get("/healthz")).json() == {"status": "ok"}
    ready = await backend.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    token = wix_token(wix_instance.instance_id)
    await backend.get("/get-instance", headers=auth(token))
    await backend.get("/get-instance", headers=auth(token))
    text = (await backend.get("/metrics")).text
    assert 'wixapp_upstream_calls_total{endpoint="token-info",outcome="ok"} 1.0' in text
    assert 'wixapp_cache_lookups_total{cache="token_info",result="hit"} 1.0' in text
    assert 'wixapp_cache_lookups_total{cache="token_info",result="miss"} 1.0' in text
    assert "wixapp_request_seconds_bucket" in text


async def test_no_raw_token_in_any_log(
    backend: httpx.AsyncClient,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    installed = wix_install()
    tokens = [wix_token(installed.instance_id, s) for s in ("VISITOR", "USER")]
    wix_emulator_state.add_fault("token-info", status=503, count=1)
    for token in tokens:
        await backend.get("/get-instance?include=instance", headers=auth(token))
        await backend.get("/get-instance?include=instance", headers=auth(token))
        await backend.put(
            "/api/settings", json={"greeting": "x"}, headers={**auth(token), "If-Match": "*"}
        )
    assert caplog.records, "the flow should have logged something"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for token in tokens:
        for piece in token.split(".")[2:]:
            assert piece not in logged


async def test_last_seen_is_recorded_off_the_request_path(
    make_app: AppFactory,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    app = make_app()
    async with open_backend(app) as client:
        token = auth(wix_token(wix_instance.instance_id))
        for _ in range(20):
            await client.get("/get-instance", headers=token)
        state = app.state.wixapp
        assert await state.seen.flush() in (0, 1)
        record = await state.store.get_instance(wix_instance.instance_id)
    assert record is not None
    assert record.site_id == wix_instance.site_id
