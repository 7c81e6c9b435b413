"""The shared tier trusts nothing it did not write: forged, garbled, copied and foreign
entries and broadcasts are misses (logged once), never callers, never instance data, never
a 500. Budgets and removals are shared through it by every process."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time

import pytest
import redis.asyncio as aioredis

from wixapp import WixApp
from wixapp.cache.redis import entry_name
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.errors import InstanceRemovedError, InvalidTokenError, TokenCheckBudgetError
from wixapp.identity.identifier import token_key
from wixapp.testing import TokenFactory

from .conftest import OpenWix

pytestmark = pytest.mark.redis

FORGED = "OauthNG.JWS.eyJhbGciOiJIUzI1NiJ9.bm90LWEtcmVhbC10b2tlbg.c2lnbmF0dXJl"


async def settled(wix: WixApp) -> None:
    """Wait for the budget's background bookings (they follow each answer from Wix)."""
    await wix._identifier._budget.settled()  # type: ignore[attr-defined]


def name(prefix: str, app: RegisteredApp, namespace: str, key: str) -> str:
    return entry_name(prefix, app.app_id, namespace, key)


def plain_entry(body: object, tag: str = "") -> bytes:
    """An entry as the shared tier stored them before sealing: tag, expiry, JSON."""
    expiry = struct.pack(">d", time.time() + 3600)
    return tag.encode() + b":" + expiry + json.dumps(body).encode()


def nested(depth: int) -> bytes:
    return b'{"caller": ' + b"[" * depth + b"]" * depth + b"}"


async def test_forged_and_garbled_entries_are_misses_logged_once(
    open_wix: OpenWix,
    raw_redis: aioredis.Redis,
    redis_prefix: str,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    verdict = name(redis_prefix, wix_registered_app, "ti", token_key(FORGED).hex())
    caller = {
        "instance_id": wix_instance.instance_id,
        "subject_type": "USER",
        "subject_id": "attacker",
        "site_id": None,
        "expires_at": None,
    }
    forged_instance = {
        "fetchedAt": time.time(),
        "data": {"instance": {"instanceId": wix_instance.instance_id, "isFree": False}},
    }
    async with open_wix() as wix:
        # A genuine entry to copy and to garble.
        real = wix_token(wix_instance.instance_id)
        await wix.identify(real)
        genuine = await raw_redis.get(
            name(redis_prefix, wix_registered_app, "ti", token_key(real).hex())
        )
        assert genuine is not None
        assert b"attacker" not in genuine
        tag, _, sealed = genuine.partition(b":")
        tries = {
            "hand-written verdict (plain JSON, as before sealing)": plain_entry({"caller": caller}),
            "a real entry copied under another token's key": genuine,
            "a real entry with one byte flipped": tag
            + b":"
            + sealed[:-1]
            + bytes([sealed[-1] ^ 1]),
            "a real entry with another tag": b"ff:" + sealed,
            "JSON nested 100,000 deep": b":"
            + struct.pack(">d", time.time() + 60)
            + nested(100_000),
            "no separator at all": b"garbage",
            "a megabyte of noise": b":" + b"\xff" * 1_048_576,
            "an empty value": b"",
        }
        outcomes = {}
        with caplog.at_level(logging.WARNING, logger="wixapp.cache"):
            for label, value in tries.items():
                await raw_redis.set(verdict, value, ex=60)
                wix._identifier.clear()  # type: ignore[attr-defined]
                with pytest.raises(InvalidTokenError):  # asked Wix, which refused it
                    await wix.identify(FORGED)
                outcomes[label] = "miss"
            # A hand-written instance entry is not served as Wix's answer.
            instance_key = name(redis_prefix, wix_registered_app, "in", wix_instance.instance_id)
            await raw_redis.set(instance_key, plain_entry(forged_instance), ex=60)
            data = await wix.instance(wix_instance.instance_id)
            assert data.data.instance.is_free is True  # Wix's own answer (a free install)
    warnings = [r for r in caplog.records if "does not authenticate" in r.getMessage()]
    assert len(warnings) == 1  # logged once, however many
    print(f"\nforged and garbled entries tried: {outcomes}")


async def test_forged_broadcasts_neither_remove_nor_restore_an_instance(
    open_wix: OpenWix,
    raw_redis: aioredis.Redis,
    redis_prefix: str,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    channel = f"{redis_prefix}:{wix_registered_app.app_id}:invalidate"
    token = wix_token(wix_instance.instance_id, "USER")
    async with open_wix() as first, open_wix() as second:
        await first.identify(token)
        await second.identify(token)
        forged = json.dumps({"origin": "x", "drop": {"removed": [wix_instance.instance_id]}})
        await raw_redis.publish(channel, forged)
        await raw_redis.publish(channel, "0" * 64 + "." + forged)
        await asyncio.sleep(0.3)
        assert (await second.identify(token)).instance_id == wix_instance.instance_id
        # A genuine removal reaches the other process, and a forged restore does not undo it.
        started = time.monotonic()
        await first.instance_removed(wix_instance.instance_id)
        while True:
            try:
                await second.identify(token)
            except InstanceRemovedError:
                break
            assert time.monotonic() - started < 5
            await asyncio.sleep(0.01)
        restore = json.dumps({"origin": "x", "drop": {"restored": [wix_instance.instance_id]}})
        await raw_redis.publish(channel, restore)
        await asyncio.sleep(0.3)
        with pytest.raises(InstanceRemovedError):
            await second.identify(token)
        await first.instance_restored(wix_instance.instance_id)
        await asyncio.sleep(0.3)
        assert (await second.identify(token)).instance_id == wix_instance.instance_id


async def test_budgets_are_shared_by_every_process(
    open_wix: OpenWix,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    settings = {
        "WIXAPP_TOKEN_INFO_PER_INSTANCE": 10,
        "WIXAPP_TOKEN_INFO_BUDGET_PER_IP": 0,
        "WIXAPP_TOKEN_INFO_BUDGET": 0,
    }
    async with open_wix(**settings) as first, open_wix(**settings) as second:
        for _ in range(6):
            await first.identify(wix_token(wix_instance.instance_id))
            await settled(first)
        for _ in range(4):  # the second process sees what the first has spent
            await second.identify(wix_token(wix_instance.instance_id))
            await settled(second)
        with pytest.raises(TokenCheckBudgetError) as refused:
            await second.identify(wix_token(wix_instance.instance_id))
    assert refused.value.code == "instance_token_check_limit"


async def test_a_junk_address_is_budgeted_across_processes(
    open_wix: OpenWix,
) -> None:
    settings = {"WIXAPP_TOKEN_INFO_BUDGET_PER_IP": 12, "WIXAPP_TOKEN_INFO_BUDGET": 0}
    attempts = 0
    async with open_wix(**settings) as first, open_wix(**settings) as second:
        for index in range(20):
            wix = (first, second)[index % 2]
            try:
                await wix.identify(FORGED + str(index), client="203.0.113.50")
            except TokenCheckBudgetError:
                break
            except InvalidTokenError:
                attempts += 1
            await settled(wix)
    assert attempts == 2  # 12 a minute, 6 per rejected token, whichever process asked
