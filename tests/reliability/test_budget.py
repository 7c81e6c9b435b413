"""Abuse: a client cycling made-up, well-formed tokens cannot push token-info calls past the
budget (per client address and overall), while callers whose tokens are cached keep being
served: a cache hit spends nothing.

The budget's behaviour is tested on both of its implementations, in the process and on
Redis (Lua scripts), through the ``make_budget`` fixture and one movable clock."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from scale.harness import LOCAL_REDIS_URL, delete_prefix, raw_client, redis_url_for, unique_prefix
from wixapp.cache.redis import RedisBackend, RedisOptions
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.errors import TokenCheckBudgetError
from wixapp.identity.budget import (
    KNOWN_SECONDS,
    REJECTION_PENALTY,
    BudgetPolicy,
    RefusalObserver,
    TokenCheckBudget,
    client_key,
    instance_hint,
    network_key,
)
from wixapp.testing import InstallFactory, MovableClock, TokenFactory, open_backend

from .conftest import Build, Figures, client_for, tally


def piece(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).decode().rstrip("=")


def forged_token() -> str:
    """Well-formed (it passes the shape check) but unknown to Wix."""
    return f"OauthNG.JWS.{piece(24)}.{piece(60)}.{piece(32)}"


# ---- the budget itself, in the process and on Redis -------------------------------------

NO_LIMITS: dict[str, Any] = {"per_minute": 0, "per_client": 0, "per_instance": 0, "per_network": 0}
BUDGET_KEYS = ("}:c:", "}:i:", "}:n:", "}:s:")  # ...and site network


class BudgetMaker:
    """Builds budgets on one implementation ("memory", or Redis at ``url``: a server or a
    cluster), all on ``clock``. On Redis each budget gets a scope of its own, and any Redis
    error fails the test: the budget would otherwise fall back to the process and hide what
    Redis did."""

    def __init__(self, kind: str, prefix: str, url: str = LOCAL_REDIS_URL) -> None:
        self.kind = kind
        self.url = url
        # An epoch time with digits below the millisecond, as time.time() gives.
        self.clock = MovableClock(1_715_081_667.123456)
        self.redis_errors: list[str] = []
        self._prefix = prefix
        self._made: dict[int, tuple[TokenCheckBudget, RedisBackend | None]] = {}

    def __call__(self, observer: RefusalObserver | None = None, **policy: Any) -> TokenCheckBudget:
        backend = None
        if self.kind != "memory":
            backend = RedisBackend(
                self.url,
                prefix=self._prefix,
                scope=f"budget-{len(self._made)}",
                secret="s",
                options=RedisOptions(socket_timeout=5.0, connect_timeout=5.0),
                on_error=self.redis_errors.append,
            )
        made = TokenCheckBudget(
            BudgetPolicy(**{**NO_LIMITS, **policy}),
            clock=self.clock,
            observer=observer,
            shared=backend,
        )
        self._made[id(made)] = (made, backend)
        return made

    async def entries(self, budget: TokenCheckBudget) -> int:
        """Per-client, per-network and per-instance entries the budget keeps, wherever."""
        backend = self._made[id(budget)][1]
        if backend is None:
            return len(budget)
        base = backend.name("budget", "")
        client = raw_client(self.url)
        try:
            names = [name async for name in client.scan_iter(match=f"{base}*", count=1000)]
        finally:
            await client.aclose()
        return len(budget) + sum(
            1 for name in names if any(k in name.decode() for k in BUDGET_KEYS)
        )

    async def close(self) -> None:
        for made, backend in self._made.values():
            await made.settled()
            if backend is not None:
                await backend.aclose()
                assert len(made) == 0  # every decision and booking went to Redis
        assert self.redis_errors == []


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("cluster", marks=[pytest.mark.redis, pytest.mark.cluster]),
    ]
)
async def make_budget(request: pytest.FixtureRequest) -> AsyncIterator[BudgetMaker]:
    prefix = unique_prefix()
    url = LOCAL_REDIS_URL if request.param == "memory" else redis_url_for(request)
    maker = BudgetMaker(request.param, prefix, url)
    try:
        yield maker
    finally:
        await maker.close()
        if request.param != "memory":
            delete_prefix(url, prefix)


async def test_a_client_gets_its_budget_then_a_retry_after(make_budget: BudgetMaker) -> None:
    limited = make_budget(per_client=6)
    for _ in range(6):
        await limited.spend("198.51.100.7")
    with pytest.raises(TokenCheckBudgetError) as refused:
        await limited.spend("198.51.100.7")
    assert refused.value.status == 429
    assert refused.value.code == "token_check_budget_exhausted"
    assert refused.value.headers() == {"Retry-After": "10"}  # 6 a minute: one per 10 s
    await limited.spend("198.51.100.8")  # another client is not affected
    make_budget.clock.now += 10
    await limited.spend("198.51.100.7")  # refilled evenly


async def test_the_overall_budget_caps_every_client_together(make_budget: BudgetMaker) -> None:
    refusals: list[str] = []
    limited = make_budget(
        refusals.append, per_minute=10, per_client=4, per_instance=0, reserved_share=0
    )
    spent = 0
    for index in range(40):
        try:
            await limited.spend(f"198.51.100.{index % 20}")
            spent += 1
        except TokenCheckBudgetError:
            pass
    assert spent == 10
    assert set(refusals) == {"overall"}


async def test_a_refusal_takes_nothing_from_the_other_budget(make_budget: BudgetMaker) -> None:
    limited = make_budget(per_minute=3, per_client=2, reserved_share=0)
    await limited.spend("198.51.100.1")
    await limited.spend("198.51.100.1")
    for _ in range(5):
        with pytest.raises(TokenCheckBudgetError):
            await limited.spend("198.51.100.1")  # refused by its own budget: overall keeps 1
    await limited.spend("198.51.100.2")


async def test_zero_means_no_limit_and_loopback_is_budgeted_overall_only(
    make_budget: BudgetMaker,
) -> None:
    unlimited = make_budget()
    for _ in range(2_000):
        await unlimited.spend("198.51.100.1")
    local = make_budget(per_client=1)
    for _ in range(100):
        await local.spend("127.0.0.1")
        await local.spend("::1")
        await local.spend(None)
    assert await make_budget.entries(local) == 0
    await local.spend("198.51.100.1")  # a remote address is budgeted: it has an entry
    assert await make_budget.entries(local) == 1


def test_ipv6_clients_share_a_budget_per_64() -> None:
    assert (
        client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    )
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:198.51.100.4") == "198.51.100.4"
    assert client_key("unix-socket-peer") == "unix-socket-peer"


def test_ipv4_keys_and_networks() -> None:
    assert client_key("198.51.100.4") == "198.51.100.4"
    assert client_key("127.0.0.9") is None
    assert client_key("010.1.2.3") == "010.1.2.3"  # not an address: its own key
    assert network_key("198.51.100.4") == "198.51.100.0/24"
    assert network_key("2001:db8:1:2::/64") == "2001:db8:1::/48"
    assert network_key("unix-socket-peer") == "unix-socket-peer"


async def test_a_flood_of_addresses_cannot_grow_memory() -> None:
    policy = BudgetPolicy(per_minute=0, per_client=5, per_instance=5, max_entries=1000)
    limited = TokenCheckBudget(policy, clock=MovableClock())
    for index in range(20_000):
        address = f"10.{index // 256 % 256}.{index % 256}.1"  # each on a /24 of its own
        await limited.spend(address)
        await limited.confirmed(f"instance-{index}", address)
    assert len(limited) == 4000  # 1000 addresses, networks, instances, sites' networks


@pytest.mark.redis
async def test_every_budget_entry_on_redis_expires(shared_redis_url: str) -> None:
    """On Redis the entries are bounded by their time to live, not by a table size."""
    prefix = unique_prefix()
    maker = BudgetMaker("redis", prefix, shared_redis_url)
    client = raw_client(shared_redis_url)
    try:
        limited = maker(per_minute=100, per_client=5, per_instance=5)
        await limited.spend("203.0.113.5", "site-a")
        await limited.rejected("203.0.113.5")
        await limited.confirmed("site-a")
        await limited.settled()
        names = [name async for name in client.scan_iter(match=f"{prefix}:*", count=1000)]
        assert len(names) == 4  # overall, client, network, instance
        for name in names:
            assert 0 < await client.pttl(name) <= 180_000  # a full refill, tainted: 3 min
    finally:
        await client.aclose()
        await maker.close()
        delete_prefix(shared_redis_url, prefix)


async def test_rejected_tokens_cost_their_address_more_and_taint_it(
    make_budget: BudgetMaker,
) -> None:
    limited = make_budget(per_client=12)
    await limited.spend("203.0.113.9")
    await limited.rejected("203.0.113.9")  # Wix said no: 1 + REJECTION_PENALTY spent
    await limited.settled()
    spent = 1
    while True:
        try:
            await limited.spend("203.0.113.9")
        except TokenCheckBudgetError:
            break
        await limited.rejected("203.0.113.9")
        await limited.settled()
        spent += 1
    assert spent == 2  # 12 a minute buys two junk tokens, not twelve
    for _ in range(12):
        await limited.spend("198.51.100.3")  # a clean address keeps its whole budget


async def test_a_reserved_share_stays_for_addresses_without_rejections(
    make_budget: BudgetMaker,
) -> None:
    limited = make_budget(per_minute=100, per_client=120, reserved_share=0.5)
    junk = 0
    for index in range(40):  # 40 addresses, each inside its own budget, all junk
        address = f"203.0.113.{index}"
        for _ in range(10):
            try:
                await limited.spend(address)
            except TokenCheckBudgetError:
                break
            await limited.rejected(address)
            await limited.settled()
            junk += 1
    assert junk <= 50 + 40  # the open half, plus one first try per address before its taint
    clean = 0
    for index in range(60):
        try:
            await limited.spend(f"198.51.100.{index}")
            clean += 1
        except TokenCheckBudgetError:
            break
    assert clean >= 10  # new visitors still get checked


async def test_a_rejected_token_taints_its_network_for_a_minute(make_budget: BudgetMaker) -> None:
    refusals: list[str] = []
    limited = make_budget(refusals.append, per_minute=20, per_client=120, reserved_share=0.5)
    for junk in ("203.0.113.1", "2001:db8:1:2::1"):  # one junk token each: 18 of 20 left
        await limited.spend(junk)
        await limited.rejected(junk)
        await limited.settled()

    async def clean_spends(count: int) -> None:
        for index in range(count):
            await limited.spend(f"198.51.100.{index}")

    await clean_spends(8)  # the overall budget is down to its reserved half, 10
    for neighbour in ("203.0.113.2", "2001:db8:1:3::1"):  # the same /24, the same /48
        with pytest.raises(TokenCheckBudgetError):
            await limited.spend(neighbour)
    assert refusals == ["overall", "overall"]
    await limited.spend("203.0.114.2")  # other networks may draw on the reserve
    await limited.spend("2001:db8:2::1")
    make_budget.clock.now += 60.5  # the taint is over, and the overall budget refilled
    await clean_spends(10)
    await limited.spend("203.0.113.2")
    await limited.spend("2001:db8:1:3::1")
    assert refusals == ["overall", "overall"]


async def test_an_instance_that_spent_its_budget_refuses_its_new_tokens_only(
    make_budget: BudgetMaker,
) -> None:
    limited = make_budget(per_instance=150)
    for _ in range(150):
        await limited.spend(None, "site-a")
        await limited.confirmed("site-a")
    await limited.settled()
    with pytest.raises(TokenCheckBudgetError) as refused:
        await limited.spend(None, "site-a")
    assert refused.value.code == "instance_token_check_limit"
    assert int(refused.value.headers()["Retry-After"]) >= 1
    await limited.spend(None, "site-b")  # another instance is unaffected
    await limited.spend(None, None)  # a token that names no instance is not refused by it
    make_budget.clock.now += 1
    await limited.spend(None, "site-a")  # 150 a minute: one more after 0.4 s


async def test_valid_tokens_from_one_48_spend_that_network_not_the_overall_budget(
    make_budget: BudgetMaker,
) -> None:
    """The attacker's own free sites, visited from 60 /64s of one /48: every token valid
    (never tainted), each /64 inside its own budget. The /48 spends its network budget; a
    new visitor of another site on another network is still checked."""
    refusals: list[str] = []
    limited = make_budget(refusals.append, per_minute=100, per_client=120, per_network=30)
    served = 0
    for index in range(60):
        address = f"2001:db8:1:{index:x}::1"
        for _ in range(3):
            try:
                await limited.spend(address, f"attacker-site-{index}")
            except TokenCheckBudgetError:
                continue
            await limited.confirmed(f"attacker-site-{index}", address)
            served += 1
    await limited.settled()
    assert served == 30
    assert set(refusals) == {"network"}
    await limited.spend("198.51.100.7", "another-site")  # a real visitor elsewhere


async def test_a_share_stays_for_instances_with_recently_confirmed_callers(
    make_budget: BudgetMaker,
) -> None:
    """New sites' tokens from many networks, each inside its network budget, cannot take
    the share kept for instances whose callers Wix confirmed lately."""
    limited = make_budget(per_minute=100, per_instance=150, per_network=10, known_share=0.2)
    await limited.spend("198.51.100.7", "real-site")
    await limited.confirmed("real-site", "198.51.100.7")
    served = 0
    for index in range(200):
        try:
            await limited.spend(f"203.0.{index}.1", f"new-site-{index}")
        except TokenCheckBudgetError:
            continue
        served += 1
    assert served == 79  # 100 less the real site's check, down to the kept 20
    for index in range(5):  # the real site's new visitors, on other networks
        await limited.spend(f"192.0.2.{index}", "real-site")
    make_budget.clock.now += KNOWN_SECONDS + 60  # no longer confirmed lately: no exception
    await limited.spend("192.0.2.99", "real-site")  # refilled meanwhile
    assert served == 79


async def test_a_contested_site_refuses_first_the_network_that_spent_most_of_it(
    make_budget: BudgetMaker,
) -> None:
    """Free visitor tokens of one site, all from one /24: once half the site's budget is
    spent, that network is refused; the site's visitors on other networks keep the rest."""
    refusals: list[str] = []
    limited = make_budget(refusals.append, per_instance=40)
    flood = 0
    for index in range(60):
        address = f"203.0.113.{index}"
        try:
            await limited.spend(address, "site")
        except TokenCheckBudgetError:
            continue
        await limited.confirmed("site", address)
        await limited.settled()
        flood += 1
    assert flood == 21  # down to half of 40, then its share (10) is long spent
    assert set(refusals) == {"instance"}
    for index in range(15):  # each on a network of its own
        await limited.spend(f"198.51.{index}.1", "site")
        await limited.confirmed("site", f"198.51.{index}.1")
    await limited.settled()


def test_the_instance_hint_is_read_from_the_payload_only() -> None:
    def jws(claims: dict[str, object]) -> str:
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        return f"OauthNG.JWS.eyJhbGciOiJIUzI1NiJ9.{payload}.{piece(32)}"

    assert instance_hint(jws({"instance_id": "i-1"})) == "i-1"
    assert instance_hint(jws({"data": json.dumps({"instance": {"instanceId": "i-2"}})})) == "i-2"
    assert instance_hint(forged_token()) is None
    assert instance_hint(jws({"instance_id": "x" * 500})) is None
    assert instance_hint(jws({"instance_id": 7})) is None


# ---- the backend under abuse ------------------------------------------------------------


async def test_cycling_forged_tokens_hits_the_budget_not_wix(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    per_ip, overall = 20, 50
    app = build(WIXAPP_TOKEN_INFO_BUDGET_PER_IP=per_ip, WIXAPP_TOKEN_INFO_BUDGET=overall)
    legit_tokens = [wix_token(wix_instance.instance_id) for _ in range(5)]
    async with (
        open_backend(app),
        client_for(app, "203.0.113.66") as abuser,
        client_for(app, "203.0.113.67") as second_abuser,
        client_for(app, "198.51.100.20") as legit,
        client_for(app, "203.0.113.66") as legit_behind_the_abusers_nat,
    ):
        for token in legit_tokens:  # known, hence cached, before the abuse starts
            assert (await legit.get("/get-instance", headers={"Authorization": token})).is_success
        calls_before = wix_emulator_state.calls()["token-info"]

        async def abuse(client: httpx.AsyncClient, count: int) -> list[httpx.Response]:
            return [
                await client.get("/get-instance", headers={"Authorization": forged_token()})
                for _ in range(count)
            ]

        async def keep_calling(client: httpx.AsyncClient) -> list[httpx.Response]:
            answers = []
            for index in range(100):
                token = legit_tokens[index % len(legit_tokens)]
                answers.append(await client.get("/get-instance", headers={"Authorization": token}))
                await asyncio.sleep(0)
            return answers

        first, second, served, served_nat = await asyncio.gather(
            abuse(abuser, 200),
            abuse(second_abuser, 200),
            keep_calling(legit),
            keep_calling(legit_behind_the_abusers_nat),
        )
        metrics = (await legit.get("/metrics")).text
    token_info_calls = wix_emulator_state.calls()["token-info"] - calls_before
    figures.fault(
        "token_budget_abuse",
        fault=f"2 addresses cycling 200 forged tokens each; budget {per_ip}/min per IP, "
        f"{overall}/min overall; 2 cached callers (one behind the abuser's address)",
        requests=len(first) + len(second) + len(served) + len(served_nat),
        outcomes={
            "abuser_1": tally(first),
            "abuser_2": tally(second),
            "cached_caller": tally(served),
            "cached_caller_same_ip": tally(served_nat),
        },
        upstream_calls=token_info_calls,
    )
    # Each address its own budget, within the overall one; every rejected token costs it
    # 1 + REJECTION_PENALTY, so junk buys a sixth of what valid tokens would.
    per_address = math.ceil(per_ip / (1 + REJECTION_PENALTY))
    assert token_info_calls == 2 * per_address
    for answers in (first, second):
        assert tally(answers) == {
            "401 invalid_token": per_address,
            "429 token_check_budget_exhausted": 200 - per_address,
        }
        refused = [r for r in answers if r.status_code == 429]
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        assert refused[0].json()["detail"]
    assert tally(served) == tally(served_nat) == {"200": 100}
    refused_total = float(2 * (200 - per_address))
    assert f'wixapp_token_checks_refused_total{{budget="client"}} {refused_total}' in metrics


async def test_the_overall_budget_holds_against_many_addresses(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    overall = 30
    app = build(WIXAPP_TOKEN_INFO_BUDGET_PER_IP=5, WIXAPP_TOKEN_INFO_BUDGET=overall)
    legit = wix_token(wix_instance.instance_id)
    answers = []
    async with open_backend(app) as local:
        assert (await local.get("/get-instance", headers={"Authorization": legit})).is_success
        calls_before = wix_emulator_state.calls()["token-info"]
        for index in range(100):
            async with client_for(app, f"192.0.2.{index}") as client:
                for _ in range(3):
                    answers.append(
                        await client.get("/get-instance", headers={"Authorization": forged_token()})
                    )
        still = await local.get("/get-instance", headers={"Authorization": legit})
    calls = wix_emulator_state.calls()["token-info"] - calls_before
    figures.fault(
        "token_budget_many_addresses",
        fault=f"100 addresses × 3 forged tokens; budget 5/min per IP, {overall}/min overall",
        requests=len(answers) + 1,
        outcomes={"abusers": tally(answers), "cached_caller": tally([still])},
        upstream_calls=calls,
    )
    assert calls <= overall
    assert tally(answers) == {
        "401 invalid_token": calls,
        "429 token_check_budget_exhausted": 300 - calls,
    }
    assert still.status_code == 200


async def test_a_distributed_junk_flood_leaves_room_for_new_visitors(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    """Many addresses, each inside its own budget, cannot spend the reserved share."""
    per_ip, overall = 12, 300
    app = build(WIXAPP_TOKEN_INFO_BUDGET_PER_IP=per_ip, WIXAPP_TOKEN_INFO_BUDGET=overall)
    # (name, addresses): one /24 network each, or spread over as many /24s as addresses.
    attacks = [
        ("26_addresses_one_net", [f"203.0.1.{i}" for i in range(26)]),
        ("100_addresses_one_net", [f"203.0.2.{i}" for i in range(100)]),
        ("250_addresses_one_net", [f"203.0.3.{i}" for i in range(250)]),
        ("100_addresses_100_nets", [f"10.{i}.7.1" for i in range(100)]),
    ]
    outcomes: dict[str, dict[str, int]] = {}
    async with open_backend(app):
        for round_, (name, addresses) in enumerate(attacks):
            answers = []
            for address in addresses:
                async with client_for(app, address) as client:
                    for _ in range(per_ip):
                        answers.append(
                            await client.get(
                                "/get-instance", headers={"Authorization": forged_token()}
                            )
                        )
            visitors = []
            for index in range(5):  # real visitors with fresh tokens, from fresh addresses
                async with client_for(app, f"198.51.{round_}.{index}") as visitor:
                    token = wix_token(wix_instance.instance_id)
                    visitors.append(
                        await visitor.get("/get-instance", headers={"Authorization": token})
                    )
            outcomes[f"{name}_x_{per_ip}_forged"] = tally(answers)
            outcomes[f"new_visitors_after_{name}"] = tally(visitors)
            assert tally(visitors) == {"200": 5}, name
    figures.fault(
        "token_budget_distributed_flood",
        fault=f"addresses × {per_ip} forged tokens each (inside the per-address budget of "
        f"{per_ip}/min), in turn without a pause; overall {overall}/min, half reserved for "
        "addresses and networks without rejections",
        requests=sum(sum(each.values()) for each in outcomes.values()),
        outcomes=outcomes,
        upstream_calls=wix_emulator_state.calls()["token-info"],
    )


async def test_free_tokens_of_one_site_cannot_lock_out_another_or_its_elevated_calls(
    build: Build,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    target, other = wix_install(), wix_install()
    app = build(WIXAPP_TOKEN_INFO_BUDGET_PER_IP=0, WIXAPP_TOKEN_INFO_BUDGET=0)
    owner = {"Authorization": wix_token(target.instance_id, "USER")}
    async with open_backend(app) as local:
        assert (await local.get("/get-instance", headers=owner)).status_code == 200  # known
        flood = [
            await local.get(
                "/get-instance", headers={"Authorization": wix_token(target.instance_id)}
            )
            for _ in range(250)
        ]
        neighbour = await local.get(
            "/get-instance", headers={"Authorization": wix_token(other.instance_id)}
        )
        elevated = await local.get("/get-instance?include=instance", headers=owner)
    refused = [answer for answer in flood if answer.status_code == 429]
    figures.fault(
        "token_budget_one_site",
        fault="250 fresh visitor tokens of one site in a row; per-instance cap 150/min "
        "(Wix: 200/min per instance)",
        requests=252,
        outcomes={
            "flood": tally(flood),
            "other_site_new_visitor": tally([neighbour]),
            "owner_known_with_instance_data": tally([elevated]),
        },
        upstream_calls=wix_emulator_state.calls()["token-info"],
    )
    served = tally(flood)["200"]
    # The cap of 150 less the owner's own check, plus what refilled while the flood ran.
    assert 149 <= served <= 160
    assert tally(flood)["429 instance_token_check_limit"] == 250 - served
    assert all(int(answer.headers["Retry-After"]) >= 1 for answer in refused)
    assert neighbour.status_code == 200
    # Wix's own limit was never reached: the app's elevated calls (client_credentials, Get
    # App Instance) for the site still had room.
    assert elevated.status_code == 200


async def test_a_valid_token_flood_from_one_48_leaves_a_new_visitor_elsewhere_served(
    build: Build,
    wix_install: InstallFactory,
    wix_token: TokenFactory,
    figures: Figures,
) -> None:
    """The attack as sent: fresh visitor tokens of the attacker's own free sites from 60
    /64s of one /48, the overall budget scaled down (100/min) so the flood outpaces the
    refill; a new visitor of another site, on another network, is answered 200."""
    attacker_sites = [wix_install().instance_id for _ in range(4)]
    victim = wix_install().instance_id
    app = build(WIXAPP_TOKEN_INFO_BUDGET=100, WIXAPP_TOKEN_INFO_BUDGET_PER_NETWORK=30)
    flood: list[httpx.Response] = []
    async with open_backend(app):
        for index in range(60):
            async with client_for(app, f"2001:db8:1:{index:x}::1") as attacker:
                for turn in range(2):
                    token = {"Authorization": wix_token(attacker_sites[(index + turn) % 4])}
                    flood.append(await attacker.get("/get-instance", headers=token))
        async with client_for(app, "198.51.100.7") as visitor:
            fresh = {"Authorization": wix_token(victim)}
            answer = await visitor.get("/get-instance", headers=fresh)
    figures.fault(
        "token_budget_valid_flood_one_48",
        fault="120 fresh valid tokens of the attacker's own sites from 60 /64s of one /48; "
        "overall budget 100/min, per network 30/min",
        requests=121,
        outcomes={"flood": tally(flood), "new_visitor_elsewhere": tally([answer])},
    )
    assert tally(flood) == {"200": 30, "429 token_check_budget_exhausted": 90}
    assert answer.status_code == 200
