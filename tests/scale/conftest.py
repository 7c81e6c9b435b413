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

from .harness import LOCAL_REDIS_URL, RedisServer, delete_prefix, redis_server, unique_prefix

OpenWix = Callable[..., AbstractAsyncContextManager[WixApp]]


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the local Redis, emptied afterwards."""
    prefix = unique_prefix()
    yield prefix
    delete_prefix(LOCAL_REDIS_URL, prefix)


@pytest.fixture
async def raw_redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(LOCAL_REDIS_URL, socket_timeout=2)
    yield client
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
    tmp_path: Path,
) -> OpenWix:
    """Open a WixApp on the shared Redis: each one plays one process of a deployment."""

    @asynccontextmanager
    async def open_one(**settings: Any) -> AsyncIterator[WixApp]:
        settings.setdefault("WIXAPP_REDIS_URL", LOCAL_REDIS_URL)
        config = settings_for_emulator(
            wix_registered_app,
            database_url=f"sqlite:///{tmp_path / 'unused.db'}",
            WIXAPP_REDIS_PREFIX=redis_prefix,
            WIXAPP_HTTP_RETRIES=0,
            **settings,
        )
        wix = WixApp(config, transport=wix_transport, clock=EmulatorClock(wix_emulator_state))
        async with wix:
            yield wix

    return open_one
