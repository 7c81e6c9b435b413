"""Three real backend processes on one PostgreSQL and one Redis, against a served emulator.

Each process is ``python -m uvicorn wixapp.server:create_app --factory`` (what
``wixapp serve --workers N`` runs), on its own loopback port; requests are spread over them.
Upstream latency is injected so concurrent misses really overlap across processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from dbutil import make_database_url
from wixapp.emulator import EmulatorControl, EmulatorServer
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.store import migrate

from .harness import LOCAL_REDIS_URL, Worker, delete_prefix, metric, unique_prefix, workers

pytestmark = [pytest.mark.multiprocess, pytest.mark.redis, pytest.mark.postgres]

WORKERS = 3
REQUESTS = 300


@dataclass
class Deployment:
    emulator: EmulatorServer
    app: RegisteredApp
    workers: list[Worker]
    prefix: str

    def install(self, **options: Any) -> Installation:
        state = self.emulator.state
        site = state.create_site(display_name="Scale")
        return state.install(self.app.app_id, site.site_id, **options)

    def token(self, instance_id: str) -> str:
        return self.emulator.state.mint_token(instance_id, "VISITOR").token


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    prefix = unique_prefix()
    with (
        EmulatorServer() as emulator,
        make_database_url("postgresql") as database_url,
    ):
        migrate(database_url)  # once, before the workers (which do not migrate)
        app = emulator.state.register_app()
        settings = {
            "WIX_APP_ID": app.app_id,
            "WIX_APP_SECRET": app.app_secret,
            "WIX_APP_PUBLIC_KEY": emulator.state.webhook_public_key(),
            "WIX_API_BASE_URL": emulator.url,
            "WIXAPP_DATABASE_URL": database_url,
            "WIXAPP_MIGRATE_ON_START": "false",
            "WIXAPP_REDIS_URL": LOCAL_REDIS_URL,
            "WIXAPP_REDIS_PREFIX": prefix,
            "WIXAPP_HTTP_RETRIES": "0",
        }
        try:
            with workers(WORKERS, settings, tmp_path_factory.mktemp("workers")) as started:
                yield Deployment(emulator, app, started, prefix)
        finally:
            delete_prefix(LOCAL_REDIS_URL, prefix)


@pytest.fixture(autouse=True)
def _fresh_counts(deployment: Deployment) -> Iterator[None]:
    deployment.emulator.state.reset_calls()
    yield
    deployment.emulator.state.clear_faults()


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
    deployment: Deployment,
) -> None:
    installed = deployment.install()
    token = deployment.token(installed.instance_id)
    deployment.emulator.state.add_fault("token-info", latency=0.2)
    responses, seconds = await spread(deployment, [("/get-instance", token)] * REQUESTS)
    assert {response.status_code for response in responses} == {200}
    assert {response.json()["instanceId"] for response in responses} == {installed.instance_id}
    assert deployment.emulator.state.calls()["token-info"] == 1
    counts = await lookups(deployment, "token_info")
    assert sum(counts["lead"]) == 1  # one process asked Wix for everyone
    assert all(
        lead + wait + hit >= 1
        for lead, wait, hit in zip(counts["lead"], counts["wait"], counts["hit"], strict=True)
    )
    print(f"\n300 requests, 1 fresh token, 3 processes: {seconds:.2f}s; lookups {counts}")


async def test_300_include_instance_requests_make_one_client_credentials_call(
    deployment: Deployment,
) -> None:
    installed = deployment.install(is_free=False, package_name="pro")
    tokens = [deployment.token(installed.instance_id) for _ in range(30)]
    state = deployment.emulator.state
    state.add_fault("token", latency=0.2)
    state.add_fault("instance", latency=0.1)
    # Request i goes to worker i % 3: each token reaches every process.
    requests = [("/get-instance?include=instance", tokens[i // 3 % 30]) for i in range(REQUESTS)]
    responses, seconds = await spread(deployment, requests)
    assert {response.status_code for response in responses} == {200}
    plans = {r.json()["instance"]["instance"]["billing"]["packageName"] for r in responses}
    assert plans == {"pro"}
    calls = state.calls()
    assert calls["token"] == 1  # client_credentials, once for the three processes
    assert calls["instance"] == 1
    assert calls["token-info"] == 30  # once per distinct token
    print(f"\n300 include=instance requests, 3 processes: {seconds:.2f}s; calls {calls}")


async def test_a_webhook_to_one_process_stops_every_process_serving_old_data(
    deployment: Deployment,
) -> None:
    installed = deployment.install(is_free=True)
    token = deployment.token(installed.instance_id)
    warm, _ = await spread(deployment, [("/get-instance?include=instance", token)] * WORKERS)
    assert all(r.json()["instance"]["instance"]["isFree"] is True for r in warm)
    receiver = deployment.workers[0]
    state = deployment.emulator.state
    state.configure_webhooks(deployment.app.app_id, receiver.url + "/webhooks")
    try:
        async with EmulatorControl.for_url(deployment.emulator.url) as control:
            # Wix changes the plan and tells one process (the load balancer picked it).
            await control.set_plan(
                installed.instance_id, package_name="premium", billing_cycle="MONTHLY"
            )
            delivered_at = await _delivered(control, installed.instance_id)
        seen_new: dict[str, float] = {}
        async with httpx.AsyncClient(timeout=5) as client:
            deadline = time.monotonic() + 2
            while len(seen_new) < WORKERS and time.monotonic() < deadline:
                for worker in deployment.workers:
                    if worker.name in seen_new:
                        continue
                    response = await client.get(
                        worker.url + "/get-instance?include=instance",
                        headers={"Authorization": token},
                    )
                    if response.json()["instance"]["instance"]["isFree"] is False:
                        seen_new[worker.name] = time.monotonic() - delivered_at
    finally:
        state.configure_webhooks(deployment.app.app_id, None)
    assert set(seen_new) == {worker.name for worker in deployment.workers}
    assert max(seen_new.values()) < 0.5
    calls = state.calls()
    assert (calls["instance"], calls["token"]) == (2, 2)  # before, and once after, for all
    print(f"\nafter the webhook's 200, new data served by every process within {seen_new}")


async def _delivered(control: EmulatorControl, instance_id: str) -> float:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for delivery in await control.webhook_deliveries():
            if delivery.instance_id == instance_id and delivery.state == "delivered":
                return time.monotonic()
        await asyncio.sleep(0.01)
    raise AssertionError("the plan webhook was not delivered")
