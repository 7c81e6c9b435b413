"""Recorded lifecycle broadcasts replayed on Redis change nothing: two backends sharing one
Redis and one database (SQLite and PostgreSQL); the attacker can read and publish on the
channel but holds no secret."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from wixapp.cache import RedisBackend, RedisOptions
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.server import create_app
from wixapp.testing import EmulatorClock, MovableClock, open_backend, settings_for_emulator
from wixapp.webhooks import generate_rsa_keypair, sign_webhook

from .harness import LOCAL_REDIS_URL, unique_prefix

pytestmark = pytest.mark.redis

T0 = 1_715_000_000
Pair = tuple[httpx.AsyncClient, httpx.AsyncClient]


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture
def two_workers(
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_transport: httpx.ASGITransport,
    database_url: str,
    redis_prefix: str,
    shared_redis_url: str,
    keys: tuple[str, str],
) -> Callable[[], AbstractAsyncContextManager[Pair]]:
    def build() -> Any:
        config = settings_for_emulator(
            wix_registered_app,
            database_url=database_url,
            WIXAPP_HTTP_RETRIES=0,
            WIXAPP_REDIS_URL=shared_redis_url,
            WIXAPP_REDIS_PREFIX=redis_prefix,
            WIXAPP_MIGRATE_ON_START=False,
            WIX_APP_PUBLIC_KEY=keys[1],
        )
        clock = EmulatorClock(wix_emulator_state)
        return create_app(config, wix_transport=wix_transport, clock=clock)

    @asynccontextmanager
    async def opened() -> AsyncIterator[Pair]:
        async with open_backend(build()) as first, open_backend(build()) as second:
            yield first, second

    return opened


class Recorder:
    """What an intruder with access to Redis sees on the invalidation channel."""

    def __init__(self, raw: aioredis.Redis, channel: str) -> None:
        self._pubsub = raw.pubsub()
        self._raw = raw
        self.channel = channel

    async def __aenter__(self) -> Recorder:
        await self._pubsub.subscribe(self.channel)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._pubsub.aclose()

    async def record(self, action: Awaitable[object]) -> list[bytes]:
        await action
        seen: list[bytes] = []
        while (message := await self._pubsub.get_message(timeout=0.3)) is not None:
            if message["type"] == "message":
                seen.append(message["data"])
        assert seen, "the action broadcast nothing"
        return seen

    async def replay(self, messages: list[bytes]) -> None:
        for message in messages:
            await self._raw.publish(self.channel, message)


def webhook(keys: tuple[str, str], app_id: str, kind: str, instance_id: str, at: int) -> str:
    return sign_webhook(
        kind, instance_id, {"appId": app_id}, private_key_pem=keys[0], iat=at, exp=time.time() + 600
    )


async def answer(client: httpx.AsyncClient, token: str) -> str:
    response = await client.get("/get-instance", headers={"Authorization": token})
    return "ok" if response.status_code == 200 else response.json()["error"]


async def eventually(client: httpx.AsyncClient, token: str, expected: str) -> None:
    """Wait (bounded) for a broadcast to reach the other worker."""
    for _ in range(100):
        if await answer(client, token) == expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the other worker never answered {expected}")


async def settle(pair: Pair, token: str, removal: str) -> None:
    """A fresh removal of another instance, sent after the replay: once the receiver has
    applied it, it has handled the replayed messages (sent before it) too."""
    sender, receiver = pair
    await sender.post("/webhooks", content=removal)
    await eventually(receiver, token, "app_removed")


async def test_replayed_removed_after_a_reinstall_and_restored_after_a_removal_change_nothing(
    two_workers: Callable[[], AbstractAsyncContextManager[Pair]],
    wix_registered_app: RegisteredApp,
    wix_install: Callable[[], Installation],
    wix_emulator_state: EmulatorState,
    raw_redis: aioredis.Redis,
    redis_prefix: str,
    keys: tuple[str, str],
) -> None:
    app_id = wix_registered_app.app_id
    site, other = wix_install().instance_id, wix_install().instance_id
    owner = wix_emulator_state.mint_token(site, "USER").token
    bystander = wix_emulator_state.mint_token(other, "USER").token
    channel = f"{redis_prefix}:{app_id}:invalidate"

    def event(kind: str, instance_id: str, at: int) -> str:
        return webhook(keys, app_id, kind, instance_id, at)

    async with two_workers() as (a, b), Recorder(raw_redis, channel) as intruder:
        await a.post("/webhooks", content=event("AppInstalled", site, T0))
        assert await answer(b, owner) == "ok"
        removed = await intruder.record(
            a.post("/webhooks", content=event("AppRemoved", site, T0 + 10))
        )
        await eventually(b, owner, "app_removed")
        restored = await intruder.record(
            a.post("/webhooks", content=event("AppInstalled", site, T0 + 20))
        )
        await eventually(b, owner, "ok")

        # The recorded removal, replayed after the reinstall: the live site stays served.
        await intruder.replay(removed)
        await settle((a, b), bystander, event("AppRemoved", other, T0 + 30))
        fresh = wix_emulator_state.mint_token(site, "VISITOR").token
        assert [await answer(b, owner), await answer(b, fresh)] == ["ok", "ok"]

        # The recorded reinstall, replayed after a new removal: the removed site stays refused.
        await a.post("/webhooks", content=event("AppRemoved", site, T0 + 40))
        await eventually(b, owner, "app_removed")
        await intruder.replay(restored)
        await a.post("/webhooks", content=event("AppInstalled", other, T0 + 50))
        await eventually(b, bystander, "ok")
        await settle((a, b), bystander, event("AppRemoved", other, T0 + 60))
        assert await answer(b, owner) == "app_removed"


async def test_a_broadcast_is_taken_once_and_only_while_fresh() -> None:
    """The Redis tier itself: a repeated or old message is dropped before any hook runs,
    and a sender's messages arriving out of order are all taken."""
    clock = MovableClock(T0)
    options = RedisOptions(message_max_age=60.0)
    receiver = RedisBackend(
        LOCAL_REDIS_URL,
        prefix=unique_prefix(),
        scope="app",
        secret="s" * 32,
        options=options,
        clock=clock,
    )
    told: list[str] = []
    receiver.on_invalidate("removed", told.append)

    def receive(key: str, *, seq: int, sent: float) -> None:
        drop = {"removed": [key]}
        body = json.dumps({"origin": "elsewhere", "seq": seq, "sent": sent, "drop": drop})
        receiver._received(receiver._sign(body).encode())

    for key, seq in [("second", 2), ("first", 1), ("second", 2), ("first", 1)]:
        receive(key, seq=seq, sent=T0)
    assert told == ["second", "first"]  # out of order, each once
    clock.advance(61)
    receive("late", seq=3, sent=T0)
    receive("now", seq=4, sent=clock())
    assert told == ["second", "first", "now"]
    await receiver.aclose()
