"""The shared tier on a Redis Cluster of three masters: where keys land, scripts' slots, and
a master stopped. (Every other shared-tier test runs on the test cluster too: see
``shared_redis_url``.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wixapp.cache import RedisBackend
from wixapp.emulator import EmulatorState
from wixapp.testing import InstallFactory, TokenFactory

from .conftest import OpenWix
from .harness import RedisClusterServers, metric, redis_cluster_servers

pytestmark = [
    pytest.mark.redis,
    pytest.mark.cluster,
    pytest.mark.parametrize("shared_redis_url", ["cluster"], indirect=True),
]

# Keys a cache may be asked for, braces and all: none may split a key's names over slots.
ODD_KEYS = ["plain", "", "}", "{", "{x}", "a}b{c}", "{}", "x{y}z", "ünïcode", "ins:tance|9"]


def slot(cluster: RedisClusterServers, name: str) -> int:
    with cluster.nodes[0].client() as client:
        return int(client.execute_command("CLUSTER", "KEYSLOT", name))


def test_a_keys_value_lock_and_failure_share_a_slot_and_keys_spread(
    redis_cluster: RedisClusterServers, shared_redis_url: str
) -> None:
    backend = RedisBackend(shared_redis_url, prefix="p", scope="app", secret="s")
    for key in ODD_KEYS:
        names = [backend._key("ns", key), backend._lock("ns", key), backend._failure("ns", key)]
        assert len({slot(redis_cluster, name) for name in names}) == 1, names
    names = [backend._key("ns", f"instance-{n}") for n in range(30)]
    assert len({slot(redis_cluster, name) for name in names}) >= 28  # spread over slots...
    assert {redis_cluster.node_of(name) for name in names} == {0, 1, 2}  # ...and masters
    budget = [backend.name("budget", bucket) for bucket in ("all", "c:1.2.3.4", "i:x", "s:y|z")]
    assert len({slot(redis_cluster, name) for name in budget}) == 1  # one script's keys


async def test_entries_spread_over_the_masters_and_are_shared(
    open_wix: OpenWix,
    redis_cluster: RedisClusterServers,
    redis_prefix: str,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    sites = [wix_install().instance_id for _ in range(12)]
    tokens = [wix_token(site) for site in sites]
    async with open_wix() as first, open_wix() as second:
        for token, site in zip(tokens, sites, strict=True):
            assert (await first.identify(token)).instance_id == site
            await first.instance(site)
        for token, site in zip(tokens, sites, strict=True):  # from the cluster, not Wix
            assert (await second.identify(token)).instance_id == site
            await second.instance(site)
    calls = wix_emulator_state.calls()
    assert (calls["token-info"], calls["instance"]) == (12, 12)
    held = redis_cluster.keys(f"{redis_prefix}:*")
    spread = {node: names for node, names in held.items() if names}
    assert sum(len(names) for names in held.values()) >= 36  # verdicts, app tokens, data
    assert len(spread) == 3  # 36+ keys on hashed slots: every master holds some
    for node, names in spread.items():
        assert all(redis_cluster.node_of(name) == node for name in names)


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[RedisClusterServers]:
    with redis_cluster_servers(tmp_path / "cluster") as cluster:
        yield cluster


async def test_a_stopped_master_opens_the_circuit_and_requests_go_on(
    private_cluster: RedisClusterServers,
    open_wix: OpenWix,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    cluster = private_cluster
    settings = {"WIXAPP_REDIS_URL": cluster.url}
    known = wix_install(is_free=True).instance_id
    known_token = wix_token(known)
    async with open_wix(**settings) as a, open_wix(**settings) as b:
        await a.identify(known_token)
        await a.instance(known)
        await b.instance(known)
        assert await a.shared_cache_status() == "ok"
        heard_on = await _listening_port(b)
        stopped = next(n for n in cluster.nodes if n.port == heard_on)  # b's listener's node

        stopped.stop()  # by its PID: a master and a third of the slots gone
        # Calls on its slots fail (those requests ask Wix), the others still use Redis; once
        # the cluster marks it failed (cluster-node-timeout) it serves no slot (no replica to
        # take over, full coverage required): every call fails and the circuit opens.
        answered = 0
        deadline = time.monotonic() + 30
        while a._shared.circuit.up:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the circuit never opened"
            site = wix_install().instance_id
            assert (await a.identify(wix_token(site))).instance_id == site  # from Wix
            assert (await a.identify(known_token)).instance_id == known  # from memory
            answered += 1
            await asyncio.sleep(0.05)
        assert wix_emulator_state.calls()["token-info"] == 1 + answered
        status = await a.shared_cache_status()
        assert (status or "").startswith("degraded (")
        page = a.metrics.render().decode()
        assert metric(page, "wixapp_shared_cache_up", backend="redis") == 0.0
        site = wix_install().instance_id
        assert (await a.identify(wix_token(site))).instance_id == site  # circuit open: Wix

        stopped.start()  # its nodes.conf kept: it rejoins with its slots
        cluster.wait_until_ok()
        await _until_ok(a)
        await _until_ok(b)

        # b's listener moved to another node: invalidations flow.
        assert await _listening_port(b) != heard_on
        wix_emulator_state.set_plan(known, package_name="pro", billing_cycle="MONTHLY")
        await a.forget_instance(known)
        deadline = time.monotonic() + 10
        while (await b.instance(known)).data.instance.is_free:
            assert time.monotonic() < deadline, "the invalidation never reached b"
            await asyncio.sleep(0.02)


async def _listening_port(wix: object) -> int:
    """The port of the node the app's listener subscribed on (waits for a subscription)."""
    backend = wix._shared  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while not backend._subscriptions:
        assert time.monotonic() < deadline, "the listener never subscribed"
        await asyncio.sleep(0.01)
    port: int = backend._listener_client.connection_pool.connection_kwargs["port"]
    return port


async def _until_ok(wix: object) -> None:
    deadline = time.monotonic() + 30  # the circuit's backoff grows to 5 s while it fails
    while (status := await wix.shared_cache_status()) != "ok":  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"the shared tier stays {status}"
        await asyncio.sleep(0.1)


async def test_an_invalidation_reaches_listeners_on_every_node(
    redis_cluster: RedisClusterServers, redis_prefix: str, shared_redis_url: str
) -> None:
    def backend() -> RedisBackend:
        return RedisBackend(shared_redis_url, prefix=redis_prefix, scope="app", secret="s")

    sender, listeners = backend(), [backend() for _ in redis_cluster.nodes]
    told: list[list[str]] = [[] for _ in listeners]
    try:
        for turn, (listener, heard) in enumerate(zip(listeners, told, strict=True)):
            listener._listener_turn = turn  # node `turn` (the nodes in address order)
            listener.on_invalidate("t", heard.append)
            await listener.start()
        deadline = time.monotonic() + 5
        while not all(listener._subscriptions for listener in listeners):
            assert time.monotonic() < deadline, "a listener never subscribed"
            await asyncio.sleep(0.01)
        pools = [listener._listener_client.connection_pool for listener in listeners]
        ports = {pool.connection_kwargs["port"] for pool in pools}
        assert ports == {node.port for node in redis_cluster.nodes}  # one on each node
        await sender.invalidate("t", ["k"])
        while told != [["k"]] * len(listeners):
            assert time.monotonic() < deadline, f"heard: {told}"
            await asyncio.sleep(0.01)
    finally:
        for each in (sender, *listeners):
            await each.aclose()
