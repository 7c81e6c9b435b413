"""Abuse: a client cycling made-up, well-formed tokens cannot push token-info calls past the
budget (per client address and overall), while callers whose tokens are cached keep being
served: a cache hit spends nothing."""

from __future__ import annotations

import asyncio
import base64
import secrets

import httpx
import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.errors import TokenCheckBudgetError
from wixapp.identity.budget import TokenCheckBudget, client_key
from wixapp.testing import MovableClock, TokenFactory, open_backend

from .conftest import Build, Figures, client_for, tally


def piece(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).decode().rstrip("=")


def forged_token() -> str:
    """Well-formed (it passes the shape check) but unknown to Wix."""
    return f"OauthNG.JWS.{piece(24)}.{piece(60)}.{piece(32)}"


# ---- the budget itself ------------------------------------------------------------------


def test_a_client_gets_its_budget_then_a_retry_after() -> None:
    clock = MovableClock()
    budget = TokenCheckBudget(per_minute=0, per_client_per_minute=6, clock=clock)
    for _ in range(6):
        budget.spend("198.51.100.7")
    with pytest.raises(TokenCheckBudgetError) as refused:
        budget.spend("198.51.100.7")
    assert refused.value.status == 429
    assert refused.value.code == "token_check_budget_exhausted"
    assert refused.value.headers() == {"Retry-After": "10"}  # 6 a minute: one per 10 s
    budget.spend("198.51.100.8")  # another client is not affected
    clock.now += 10
    budget.spend("198.51.100.7")  # refilled evenly


def test_the_overall_budget_caps_every_client_together() -> None:
    clock = MovableClock()
    refusals: list[str] = []
    budget = TokenCheckBudget(
        per_minute=10, per_client_per_minute=4, clock=clock, observer=refusals.append
    )
    spent = 0
    for index in range(40):
        try:
            budget.spend(f"198.51.100.{index % 20}")
            spent += 1
        except TokenCheckBudgetError:
            pass
    assert spent == 10
    assert set(refusals) == {"overall"}


def test_a_refusal_takes_nothing_from_the_other_budget() -> None:
    clock = MovableClock()
    budget = TokenCheckBudget(per_minute=3, per_client_per_minute=2, clock=clock)
    budget.spend("198.51.100.1")
    budget.spend("198.51.100.1")
    for _ in range(5):
        with pytest.raises(TokenCheckBudgetError):
            budget.spend("198.51.100.1")  # refused by its own budget: the overall one keeps 1
    budget.spend("198.51.100.2")


def test_zero_means_no_limit_and_loopback_is_budgeted_overall_only() -> None:
    unlimited = TokenCheckBudget(per_minute=0, per_client_per_minute=0)
    for _ in range(10_000):
        unlimited.spend("198.51.100.1")
    local = TokenCheckBudget(per_minute=0, per_client_per_minute=1)
    for _ in range(100):
        local.spend("127.0.0.1")
        local.spend("::1")
        local.spend(None)
    assert len(local) == 0


def test_ipv6_clients_share_a_budget_per_64() -> None:
    assert (
        client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    )
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:198.51.100.4") == "198.51.100.4"
    assert client_key("unix-socket-peer") == "unix-socket-peer"


def test_a_flood_of_addresses_cannot_grow_memory() -> None:
    budget = TokenCheckBudget(per_minute=0, per_client_per_minute=5, max_clients=1000)
    for index in range(20_000):
        budget.spend(f"10.{index // 65536}.{index // 256 % 256}.{index % 256}")
    assert len(budget) == 1000


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
    assert token_info_calls == 2 * per_ip  # each address its own budget, within the overall
    for answers in (first, second):
        assert tally(answers) == {
            "401 invalid_token": per_ip,
            "429 token_check_budget_exhausted": 180,
        }
        refused = [r for r in answers if r.status_code == 429]
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        assert refused[0].json()["detail"]
    assert tally(served) == tally(served_nat) == {"200": 100}
    assert 'wixapp_token_checks_refused_total{budget="client"} 360.0' in metrics


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
