"""The backend with WIXAPP_REDIS_URL: readiness detail, metrics, and the request path."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.server import create_app
from wixapp.testing import TokenFactory, open_backend, settings_for_emulator

from .harness import free_port, metric

pytestmark = pytest.mark.redis


def backend_app(
    app: RegisteredApp, transport: httpx.ASGITransport, tmp_path: Path, redis_url: str, prefix: str
) -> object:
    settings = settings_for_emulator(
        app,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        WIXAPP_REDIS_URL=redis_url,
        WIXAPP_REDIS_PREFIX=prefix,
        WIXAPP_HTTP_RETRIES=0,
    )
    return create_app(settings, wix_transport=transport)


async def test_readiness_and_metrics_show_the_shared_cache(
    wix_registered_app: RegisteredApp,
    wix_transport: httpx.ASGITransport,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    redis_prefix: str,
    shared_redis_url: str,
    tmp_path: Path,
) -> None:
    app = backend_app(wix_registered_app, wix_transport, tmp_path, shared_redis_url, redis_prefix)
    async with open_backend(app) as client:
        ready = await client.get("/readyz")
        token = wix_token(wix_instance.instance_id)
        for _ in range(3):
            response = await client.get(
                "/get-instance?include=instance", headers={"Authorization": token}
            )
            assert response.status_code == 200
        page = (await client.get("/metrics")).text
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert metric(page, "wixapp_shared_cache_up", backend="redis") == 1.0
    assert metric(page, "wixapp_shared_cache_lookups_total", cache="token_info", result="lead") == 1
    assert metric(page, "wixapp_cache_lookups_total", cache="token_info", result="hit") == 2
    assert wix_emulator_state.calls() == {"token-info": 1, "token": 1, "instance": 1}


async def test_without_redis_the_backend_is_ready_and_says_degraded(
    wix_registered_app: RegisteredApp,
    wix_transport: httpx.ASGITransport,
    wix_instance: Installation,
    wix_token: TokenFactory,
    local_redis_prefix: str,
    tmp_path: Path,
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    app = backend_app(wix_registered_app, wix_transport, tmp_path, nowhere, local_redis_prefix)
    async with open_backend(app) as client:
        token = wix_token(wix_instance.instance_id)
        response = await client.get(
            "/get-instance?include=instance", headers={"Authorization": token}
        )
        ready = await client.get("/readyz")
        page = (await client.get("/metrics")).text
    assert response.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["checks"]["redis"] == "degraded"  # the reason is in the log
    assert metric(page, "wixapp_shared_cache_up", backend="redis") == 0.0
    assert (
        sum(
            metric(page, "wixapp_shared_cache_errors_total", operation=operation)
            for operation in ("ping", "subscribe", "get")
        )
        >= 1
    )
