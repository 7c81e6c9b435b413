"""Redis dies under two backend processes, requests go on, and the shared cache comes back.

A private ``redis-server`` (its own port, no persistence) is stopped mid-run and restarted;
the workers and the emulator are real processes, the database a fresh PostgreSQL one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from dbutil import make_database_url
from wixapp.cache.redis import entry_name
from wixapp.emulator import EmulatorControl
from wixapp.identity.identifier import token_key
from wixapp.store import migrate

from .harness import RedisServer, emulator_process, metric, redis_server, unique_prefix, workers

pytestmark = [pytest.mark.multiprocess, pytest.mark.redis, pytest.mark.postgres]

DOWN_WARNING = "the shared cache (Redis) is unavailable"


async def ask(clients: list[httpx.AsyncClient], token: str, path: str = "/get-instance") -> float:
    """Send the token to every worker in turn; all must answer 200. The slowest answer."""
    slowest = 0.0
    for client in clients:
        started = time.monotonic()
        response = await client.get(path, headers={"Authorization": token})
        slowest = max(slowest, time.monotonic() - started)
        assert response.status_code == 200, response.text
    return slowest


async def token_info_calls(wix: EmulatorControl) -> int:
    return (await wix.calls())["token-info"]


async def gauges(clients: list[httpx.AsyncClient]) -> list[float]:
    pages = [(await client.get("/metrics")).text for client in clients]
    return [metric(page, "wixapp_shared_cache_up", backend="redis") for page in pages]


async def readiness(clients: list[httpx.AsyncClient]) -> list[tuple[int, str]]:
    answers = [await client.get("/readyz") for client in clients]
    return [(answer.status_code, answer.json()["checks"].get("redis", "")) for answer in answers]


async def test_requests_go_on_while_redis_is_down_and_the_shared_cache_comes_back(
    tmp_path: Path,
) -> None:
    prefix = unique_prefix()
    with (
        emulator_process(tmp_path) as emulator,
        make_database_url("postgresql") as database_url,
        redis_server(tmp_path) as redis,
    ):
        migrate(database_url)
        async with EmulatorControl.for_url(emulator.url) as wix:
            app = await wix.register_app()
            site = await wix.create_site()
            installed = await wix.install(app.app_id, site.site_id)
            settings = {
                "WIX_APP_ID": app.app_id,
                "WIX_APP_SECRET": app.app_secret,
                "WIX_API_BASE_URL": emulator.url,
                "WIXAPP_DATABASE_URL": database_url,
                "WIXAPP_MIGRATE_ON_START": "false",
                "WIXAPP_REDIS_URL": redis.url,
                "WIXAPP_REDIS_PREFIX": prefix,
                "WIXAPP_HTTP_RETRIES": "0",
                # One site's many fresh tokens are the load here, not an abuse to cap.
                "WIXAPP_TOKEN_INFO_PER_INSTANCE": "0",
            }

            async def fresh() -> str:
                return (await wix.mint_token(installed.instance_id)).token

            with workers(2, settings, tmp_path) as started:
                clients = [httpx.AsyncClient(base_url=w.url, timeout=10) for w in started]
                try:
                    await _scenario(wix, clients, fresh, redis, prefix, app.app_id)
                finally:
                    for client in clients:
                        await client.aclose()
                logs = [worker.log_text() for worker in started]
    # Logged once per transition, not once per request (there were dozens while it was down).
    assert [log.count(DOWN_WARNING) for log in logs] == [1, 1], logs


async def _scenario(
    wix: EmulatorControl,
    clients: list[httpx.AsyncClient],
    mint: Callable[[], Awaitable[str]],
    server: RedisServer,
    prefix: str,
    app_id: str,
) -> None:
    # 1. Shared: a token one worker checked is known to the other.
    before = await token_info_calls(wix)
    shared_token = await mint()
    await ask(clients, shared_token, "/get-instance?include=instance")
    assert await token_info_calls(wix) - before == 1
    assert await gauges(clients) == [1.0, 1.0]
    assert await readiness(clients) == [(200, "ok"), (200, "ok")]

    # 2. Redis dies. Every request still succeeds: from memory, or straight from Wix.
    server.stop()
    down_at = time.monotonic()
    slowest = 0.0
    before = await token_info_calls(wix)
    rounds = 0
    while time.monotonic() - down_at < 3.0:
        slowest = max(slowest, await ask(clients, await mint()))
        slowest = max(slowest, await ask(clients, shared_token, "/get-instance?include=instance"))
        rounds += 1
    degraded_calls = await token_info_calls(wix) - before
    assert degraded_calls == 2 * rounds  # each worker asks Wix itself; the old token: memory
    assert slowest < 1.0, f"a request took {slowest:.2f}s while Redis was down"
    ready = await readiness(clients)
    assert [status for status, _ in ready] == [200, 200]  # still ready: it still works
    assert all(check == "degraded" for _, check in ready), ready
    assert await gauges(clients) == [0.0, 0.0]
    pages = [(await client.get("/metrics")).text for client in clients]
    assert all("wixapp_shared_cache_errors_total" in page for page in pages)

    # 3. Redis is back (empty: no persistence). The workers return to it on their own.
    server.start()
    back_at = time.monotonic()
    while await readiness(clients) != [(200, "ok"), (200, "ok")]:
        assert time.monotonic() - back_at < 15, "the workers did not return to Redis"
        await asyncio.sleep(0.1)
    recovered = time.monotonic() - back_at
    assert await gauges(clients) == [1.0, 1.0]
    before = await token_info_calls(wix)
    later_token = await mint()
    await ask(clients, later_token)
    assert await token_info_calls(wix) - before == 1  # shared again
    check = aioredis.Redis.from_url(server.url)
    try:
        stored = await check.exists(entry_name(prefix, app_id, "ti", token_key(later_token).hex()))
    finally:
        await check.aclose()
    assert stored == 1
    print(
        f"\nRedis down 3s: {rounds} rounds, {degraded_calls} token-info calls, all 200, "
        f"slowest {slowest:.3f}s; back in use {recovered:.2f}s after restart"
    )
