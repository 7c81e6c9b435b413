"""Fixtures for the shared cache: Redis prefixes, WixApps sharing one Redis, a private Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from wixapp.app import WixApp
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import RegisteredApp
from wixapp.testing import EmulatorClock, settings_for_emulator

from .harness import (
    LOCAL_REDIS_URL,
    RedisServer,
    delete_prefix,
    raw_client,
    redis_server,
    unique_prefix,
)

OpenWix = Callable[..., AbstractAsyncContextManager[WixApp]]


@pytest.fixture
def redis_prefix(shared_redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own on the shared-tier Redis (the local server, then the
    test cluster), emptied afterwards."""
    prefix = unique_prefix()
    yield prefix
    delete_prefix(shared_redis_url, prefix)


@pytest.fixture
def local_redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the local Redis, for tests of one server only."""
    prefix = unique_prefix()
    yield prefix
    delete_prefix(LOCAL_REDIS_URL, prefix)


@pytest.fixture
async def raw_redis(shared_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A plain client of the shared-tier Redis, to look under wixapp."""
    client = raw_client(shared_redis_url)
    yield client  # type: ignore[misc]
    await client.aclose()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def open_wix(
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    redis_prefix: str,
    shared_redis_url: str,
    tmp_path: Path,
) -> OpenWix:
    """Open a WixApp on the shared-tier Redis (the local server, then the test cluster): each
    one plays one process of a deployment."""
    return _opener(
        wix_registered_app,
        wix_emulator_state,
        wix_transport,
        tmp_path,
        {"WIXAPP_REDIS_URL": shared_redis_url, "WIXAPP_REDIS_PREFIX": redis_prefix},
    )


@pytest.fixture
def open_local_wix(
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    local_redis_prefix: str,
    tmp_path: Path,
) -> OpenWix:
    """``open_wix`` for tests of one Redis server (give WIXAPP_REDIS_URL)."""
    return _opener(
        wix_registered_app,
        wix_emulator_state,
        wix_transport,
        tmp_path,
        {"WIXAPP_REDIS_PREFIX": local_redis_prefix},
    )


def _opener(
    app: RegisteredApp,
    state: EmulatorState,
    transport: httpx.ASGITransport,
    tmp_path: Path,
    defaults: dict[str, str],
) -> OpenWix:
    @asynccontextmanager
    async def open_one(**settings: Any) -> AsyncIterator[WixApp]:
        config = settings_for_emulator(
            app,
            database_url=f"sqlite:///{tmp_path / 'unused.db'}",
            WIXAPP_HTTP_RETRIES=0,
            **{**defaults, **settings},
        )
        wix = WixApp(config, transport=transport, clock=EmulatorClock(state))
        async with wix:
            yield wix

    return open_one
