"""Three real backend processes on one PostgreSQL and one Redis, against a served emulator.

Each process is ``python -m uvicorn wixapp.server:create_app --factory`` (what
``wixapp serve --workers N`` runs), on its own loopback port; requests are spread over them.
Upstream latency is injected so concurrent misses really overlap across processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from dbutil import make_database_url
from wixapp.emulator import EmulatorControl, FaultSpec
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.store import migrate

from .harness import (
    REDIS_KINDS,
    Emulator,
    Worker,
    delete_prefix,
    emulator_process,
    metric,
    redis_url_for,
    unique_prefix,
    workers,
)

pytestmark = [pytest.mark.multiprocess, pytest.mark.redis, pytest.mark.postgres]

WORKERS = 3
REQUESTS = 300


@dataclass
class Deployment:
    emulator: Emulator
    app: RegisteredApp
    workers: list[Worker]
    prefix: str


@pytest.fixture(scope="module", params=REDIS_KINDS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    prefix = unique_prefix()
    redis_url = redis_url_for(request)
    directory = tmp_path_factory.mktemp("workers")
    with (
        emulator_process(directory) as emulator,
        make_database_url("postgresql") as database_url,
    ):
        migrate(database_url)  # once, before the workers (which do not migrate)
        app, public_key = asyncio.run(_register(emulator.url))
        settings = {
            "WIX_APP_ID": app.app_id,
            "WIX_APP_SECRET": app.app_secret,
            "WIX_APP_PUBLIC_KEY": public_key,
            "WIX_API_BASE_URL": emulator.url,
            "WIXAPP_DATABASE_URL": database_url,
            "WIXAPP_MIGRATE_ON_START": "false",
            "WIXAPP_REDIS_URL": redis_url,
            "WIXAPP_REDIS_PREFIX": prefix,
            "WIXAPP_HTTP_RETRIES": "0",
        }
        try:
            with workers(WORKERS, settings, directory) as started:
                yield Deployment(emulator, app, started, prefix)
        finally:
            delete_prefix(redis_url, prefix)


async def _register(url: str) -> tuple[RegisteredApp, str]:
    async with EmulatorControl.for_url(url) as control:
        app = await control.register_app()
        return app, await control.webhook_public_key(app.app_id)


@pytest.fixture
async def wix(deployment: Deployment) -> AsyncIterator[EmulatorControl]:
    """The emulator's control API, with fresh call counts and no faults."""
    async with EmulatorControl.for_url(deployment.emulator.url) as control:
        await control.reset_calls()
        try:
            yield control
        finally:
            await control.clear_faults()


async def install(wix: EmulatorControl, app: RegisteredApp, **options: Any) -> Installation:
    site = await wix.create_site(display_name="Scale")
    return await wix.install(app.app_id, site.site_id, **options)


async def token(wix: EmulatorControl, instance_id: str, subject: str = "VISITOR") -> str:
    return (await wix.mint_token(instance_id, subject)).token


async def spread(
    deployment: Deployment, paths_and_tokens: list[tuple[str, str]]
) -> tuple[list[httpx.Response], float]:
    """Send every request at once, the i-th to worker i % N; the responses and seconds."""
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    clients = [
        httpx.AsyncClient(base_url=worker.url, limits=limits, timeout=30)
        for worker in deployment.workers
    ]
    try:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(
                clients[index % len(clients)].get(path, headers={"Authorization": token})
                for index, (path, token) in enumerate(paths_and_tokens)
            )
        )
        return responses, time.monotonic() - started
    finally:
        for client in clients:
            await client.aclose()


async def server_totals(deployment: Deployment) -> tuple[float, float]:
    """Seconds spent answering /get-instance, and answers, by all workers (histograms)."""
    total = count = 0.0
    async with httpx.AsyncClient(timeout=5) as client:
        for worker in deployment.workers:
            text = (await client.get(worker.url + "/metrics")).text
            for line in text.splitlines():
                if line.startswith("wixapp_request_seconds_sum") and "get-instance" in line:
                    total += float(line.rpartition(" ")[2])
                if line.startswith("wixapp_request_seconds_count") and "get-instance" in line:
                    count += float(line.rpartition(" ")[2])
    return total, count


async def server_mean(deployment: Deployment, before: tuple[float, float]) -> float:
    total, count = await server_totals(deployment)
    return (total - before[0]) / max(1.0, count - before[1])


async def errors(deployment: Deployment) -> list[str]:
    found = []
    async with httpx.AsyncClient(timeout=5) as client:
        for worker in deployment.workers:
            text = (await client.get(worker.url + "/metrics")).text
            found += [
                line
                for line in text.splitlines()
                if line.startswith("wixapp_shared_cache_errors_total")
            ]
    return found


async def lookups(deployment: Deployment, cache: str) -> dict[str, list[float]]:
    """Each worker's wixapp_shared_cache_lookups for the cache, by result."""
    results: dict[str, list[float]] = {"hit": [], "lead": [], "wait": [], "bypass": []}
    async with httpx.AsyncClient(timeout=5) as client:
        for worker in deployment.workers:
            text = (await client.get(worker.url + "/metrics")).text
            for result, counts in results.items():
                counts.append(
                    metric(text, "wixapp_shared_cache_lookups_total", cache=cache, result=result)
                )
    return results


async def test_300_concurrent_requests_with_one_fresh_token_make_one_token_info_call(
    deployment: Deployment, wix: EmulatorControl
) -> None:
    installed = await install(wix, deployment.app)
    fresh = await token(wix, installed.instance_id)
    await wix.add_fault(FaultSpec(endpoint="token-info", latency=0.2))
    before, earlier = await server_totals(deployment), await lookups(deployment, "token_info")
    responses, seconds = await spread(deployment, [("/get-instance", fresh)] * REQUESTS)
    mean = await server_mean(deployment, before)
    assert {response.status_code for response in responses} == {200}
    assert {response.json()["instanceId"] for response in responses} == {installed.instance_id}
    assert (await wix.calls())["token-info"] == 1
    counts = {
        result: [now - then for now, then in zip(values, earlier[result], strict=True)]
        for result, values in (await lookups(deployment, "token_info")).items()
    }
    assert sum(counts["lead"]) == 1  # one process asked Wix for everyone
    assert all(
        lead + wait + hit >= 1
        for lead, wait, hit in zip(counts["lead"], counts["wait"], counts["hit"], strict=True)
    )
    print(f"\n300 requests, 1 fresh token: {seconds:.2f}s, mean {mean:.3f}s; lookups {counts}")


async def test_300_include_instance_requests_make_one_client_credentials_call(
    deployment: Deployment, wix: EmulatorControl
) -> None:
    installed = await install(wix, deployment.app, is_free=False, package_name="pro")
    # The owner's tokens: visitors are not shown billing data.
    tokens = [await token(wix, installed.instance_id, "USER") for _ in range(30)]
    await wix.add_fault(FaultSpec(endpoint="token", latency=0.2))
    await wix.add_fault(FaultSpec(endpoint="instance", latency=0.1))
    # Request i goes to worker i % 3: each token reaches every process.
    requests = [("/get-instance?include=instance", tokens[i // 3 % 30]) for i in range(REQUESTS)]
    before = await server_totals(deployment)
    responses, seconds = await spread(deployment, requests)
    mean = await server_mean(deployment, before)
    assert {response.status_code for response in responses} == {200}
    plans = {r.json()["instance"]["instance"]["billing"]["packageName"] for r in responses}
    assert plans == {"pro"}
    calls = await wix.calls()
    assert await errors(deployment) == []
    assert calls["token"] == 1  # client_credentials, once for the three processes
    assert calls["instance"] == 1
    assert calls["token-info"] == 30  # once per distinct token
    print(f"\n300 include=instance requests: {seconds:.2f}s, mean {mean:.3f}s; calls {calls}")


async def test_a_webhook_to_one_process_stops_every_process_serving_old_data(
    deployment: Deployment, wix: EmulatorControl
) -> None:
    installed = await install(wix, deployment.app, is_free=True)
    caller = await token(wix, installed.instance_id, "USER")  # sees the plan
    path = "/get-instance?include=instance"
    warm, _ = await spread(deployment, [(path, caller)] * WORKERS)
    assert all(r.json()["instance"]["instance"]["isFree"] is True for r in warm)
    await wix.configure_webhooks(deployment.app.app_id, deployment.workers[0].url + "/webhooks")
    try:
        # Wix changes the plan and tells one process (the one the load balancer picked).
        await wix.set_plan(installed.instance_id, package_name="premium", billing_cycle="MONTHLY")
        await _delivered(wix, installed.instance_id)
        # At once: the first request each process gets after the webhook's 200.
        after, seconds = await spread(deployment, [(path, caller)] * WORKERS)
    finally:
        await wix.configure_webhooks(deployment.app.app_id, None)
    instances = [r.json()["instance"]["instance"] for r in after]
    assert [each["isFree"] for each in instances] == [False] * WORKERS
    assert [each["billing"]["packageName"] for each in instances] == ["premium"] * WORKERS
    calls = await wix.calls()
    assert (calls["instance"], calls["token"]) == (2, 2)  # before, and once after, for all
    print(f"\nafter the webhook to one process, all {WORKERS} served new data: {seconds:.3f}s")


async def _delivered(control: EmulatorControl, instance_id: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for delivery in await control.webhook_deliveries():
            if delivery.instance_id == instance_id and delivery.state == "delivered":
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the plan webhook was not delivered")


async def test_a_removal_delivered_to_one_process_is_refused_by_all_at_once(
    deployment: Deployment, wix: EmulatorControl
) -> None:
    installed = await install(wix, deployment.app)
    owner = (await wix.mint_token(installed.instance_id, "USER")).token
    path = "/get-instance?include=instance"
    warm, _ = await spread(deployment, [(path, owner)] * WORKERS)  # cached everywhere
    assert [response.status_code for response in warm] == [200] * WORKERS
    await wix.configure_webhooks(deployment.app.app_id, deployment.workers[0].url + "/webhooks")
    try:
        started = time.monotonic()
        await wix.uninstall(installed.instance_id)  # Wix delivers AppRemoved to worker 0
        delivered, refused = await asyncio.gather(
            _delivered_at(wix, installed.instance_id, started),
            asyncio.gather(
                *(_first_refusal(worker.url, owner, started) for worker in deployment.workers)
            ),
        )
        writes, _ = await spread(deployment, [("/api/settings", owner)] * WORKERS)
        site = (await wix.installation(installed.instance_id)).site_id
        await wix.install(deployment.app.app_id, site)  # installed again: the same instance
        await _delivered_count(wix, installed.instance_id, 2)
        fresh = (await wix.mint_token(installed.instance_id, "USER")).token
        again, _ = await spread(deployment, [(path, fresh)] * WORKERS)
    finally:
        await wix.configure_webhooks(deployment.app.app_id, None)
    assert [response.status_code for response in writes] == [401] * WORKERS
    assert [response.status_code for response in again] == [200] * WORKERS
    # Worker 0 refuses as soon as it has applied the webhook; the others within the time it
    # takes Redis's broadcast to arrive (each worker is polled back to back).
    applied = min(refused)
    assert max(refused) - applied < 0.5
    figures = ", ".join(
        f"worker {i}: {s:.3f} s (+{s - applied:.3f} s)" for i, s in enumerate(refused)
    )
    print(f"\nafter the uninstall: webhook answered at {delivered:.3f} s; first refusal {figures}")


async def _first_refusal(url: str, token: str, started: float) -> float:
    """Seconds from ``started`` to this worker's first 401 app_removed for ``token``."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while time.monotonic() - started < 10:
            answer = await client.get("/get-instance", headers={"Authorization": token})
            if answer.status_code == 401:
                assert answer.json()["error"] == "app_removed"
                return time.monotonic() - started
            assert answer.status_code == 200
    raise AssertionError(f"{url} still served a removed instance after 10 s")


async def _delivered_at(control: EmulatorControl, instance_id: str, started: float) -> float:
    await _delivered_count(control, instance_id, 1)
    return time.monotonic() - started


async def _delivered_count(control: EmulatorControl, instance_id: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done = [
            each
            for each in await control.webhook_deliveries()
            if each.instance_id == instance_id and each.state == "delivered"
        ]
        if len(done) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the lifecycle webhook was not delivered")
