"""Upstream faults, injected by the emulator, seen from the backend's clients.

Each test sends a bounded number of requests, tallies the answers ("200", "503
upstream_timeout", …) and the calls that reached the emulator, records them (see
``conftest.Figures``) and asserts what the backend promises: bounded retries, a breaker that
opens and half-opens, a cap on calls in flight, warm requests served through an outage,
cold ones refused with Retry-After by the deadline, and never a 500.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation
from wixapp.testing import TokenFactory, open_backend

from .conftest import Build, CountingTransport, Figures, client_for, outcome_of, tally

MARGIN = 0.5  # seconds a refusal may take beyond the configured deadline (scheduling, 2 cores)
# 200 requests queue on one event loop before their deadline starts, and are answered
# together when it passes: the last one sees up to ~0.3 s of that on 2 cores.
STORM_MARGIN = 0.8


class LoopLag:
    """The longest the event loop ran a 10 ms timer late (the machine's load, not ours)."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def probe(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - started - 0.01)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


async def timed_get(
    client: httpx.AsyncClient, path: str, token: str
) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await client.get(path, headers=auth(token))
    return response, time.perf_counter() - started


def no_500(responses: list[httpx.Response]) -> None:
    assert all(r.status_code != 500 for r in responses), tally(responses)
    for response in responses:
        if response.status_code >= 400:
            assert response.json()["error"], response.text  # JSON, with our code


def retry_after_on_refusals(responses: list[httpx.Response]) -> None:
    for response in responses:
        if response.status_code in (429, 503):
            assert int(response.headers["Retry-After"]) >= 1, outcome_of(response)


# ---- latency spikes ---------------------------------------------------------------------


async def test_latency_spikes_are_absorbed_by_a_retry(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    """Every 4th call to token-info is slower than the per-attempt timeout: a retry wins."""
    app = build(WIXAPP_HTTP_TIMEOUT=0.3, WIXAPP_HTTP_RETRIES=2, WIXAPP_UPSTREAM_DEADLINE=3)
    wix_emulator_state.add_fault("token-info", latency=0.6, share=0.25)
    wix_emulator_state.add_fault("token-info", latency=0.1, share=0.5)  # jitter below it
    tokens = [wix_token(wix_instance.instance_id) for _ in range(12)]
    async with open_backend(app) as client:
        timed = [await timed_get(client, "/get-instance", token) for token in tokens]
    responses = [r for r, _ in timed]
    calls = wix_emulator_state.calls()["token-info"]
    figures.fault(
        "latency_spike",
        fault="token-info: +0.6 s on 1 call in 4 (timeout 0.3 s), +0.1 s on 1 in 2",
        requests=len(responses),
        outcomes=tally(responses),
        upstream_calls=calls,
        slowest_seconds=round(max(s for _, s in timed), 3),
    )
    assert tally(responses) == {"200": 12}
    assert calls == 12 + 3  # the three slow attempts were each retried once
    assert max(s for _, s in timed) < 0.3 + 0.1 + 0.3 + MARGIN


async def test_a_latency_spike_under_the_timeout_only_slows_the_answer(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    app = build(WIXAPP_HTTP_TIMEOUT=1.0)
    wix_emulator_state.add_fault("*", latency=0.25)
    tokens = [wix_token(wix_instance.instance_id) for _ in range(40)]
    async with open_backend(app) as client:
        timed = await asyncio.gather(
            *(timed_get(client, "/get-instance?include=instance", t) for t in tokens)
        )
    responses = [r for r, _ in timed]
    figures.fault(
        "latency_under_timeout",
        fault="every call +0.25 s (timeout 1 s), 40 concurrent cold include=instance",
        requests=len(responses),
        outcomes=tally(responses),
        upstream_calls=wix_emulator_state.calls(),
        slowest_seconds=round(max(s for _, s in timed), 3),
    )
    assert tally(responses) == {"200": 40}
    # one token-info each; one app token and one instance read for all (single-flight)
    assert wix_emulator_state.calls() == {"token-info": 40, "token": 1, "instance": 1}


# ---- 5xx bursts and bounded retries -----------------------------------------------------


async def test_retries_are_bounded_then_the_burst_passes(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    app = build(WIXAPP_HTTP_RETRIES=2, WIXAPP_BREAKER_FAILURES=1000)
    burst = wix_emulator_state.add_fault("token-info", status=503)
    tokens = [wix_token(wix_instance.instance_id) for _ in range(10)]
    async with open_backend(app) as client:
        during = await asyncio.gather(
            *(client.get("/get-instance", headers=auth(t)) for t in tokens)
        )
        calls_during = wix_emulator_state.calls()["token-info"]
        wix_emulator_state.clear_faults()
        wix_emulator_state.add_fault("token-info", status=502, count=2)  # a short burst
        after = [await client.get("/get-instance", headers=auth(t)) for t in tokens]
    figures.fault(
        "5xx_burst",
        fault=f"token-info 503 on every call ({burst}), then 502 on 2 calls; 2 retries",
        requests=len(during) + len(after),
        outcomes={"during": tally(during), "after": tally(after)},
        upstream_calls=wix_emulator_state.calls()["token-info"],
    )
    assert tally(during) == {"503 upstream_unavailable": 10}
    assert calls_during == 10 * 3  # the first attempt and exactly two retries, no more
    assert tally(after) == {"200": 10}  # the first one retried through the burst
    retry_after_on_refusals(during)


# ---- the circuit breaker ----------------------------------------------------------------


async def test_the_breaker_opens_then_half_opens_to_probe(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    reset = 0.5
    app = build(WIXAPP_HTTP_RETRIES=0, WIXAPP_BREAKER_FAILURES=3, WIXAPP_BREAKER_RESET=reset)
    wix_emulator_state.add_fault("token-info", status=500)
    fresh = iter([wix_token(wix_instance.instance_id) for _ in range(60)])

    def calls() -> int:
        return wix_emulator_state.calls()["token-info"]

    async with open_backend(app) as client:
        failing = [await client.get("/get-instance", headers=auth(next(fresh))) for _ in range(10)]
        assert calls() == 3  # then open: the other 7 never left the process
        wix_emulator_state.advance_clock(reset + 0.05)
        # Half-open: of 20 concurrent requests exactly one probes Wix; it fails: open again.
        probing = await asyncio.gather(
            *(client.get("/get-instance", headers=auth(next(fresh))) for _ in range(20))
        )
        assert calls() == 4
        wix_emulator_state.clear_faults()
        still_open = await client.get("/get-instance", headers=auth(next(fresh)))
        wix_emulator_state.advance_clock(reset + 0.05)
        closing = await asyncio.gather(
            *(client.get("/get-instance", headers=auth(next(fresh))) for _ in range(10))
        )
        closed = [await client.get("/get-instance", headers=auth(next(fresh))) for _ in range(5)]
    everything = [*failing, *probing, still_open, *closing, *closed]
    figures.fault(
        "breaker",
        fault="token-info 500 on every call; breaker 3 failures, 0.5 s reset; then cleared",
        requests=len(everything),
        outcomes={
            "failing": tally(failing),
            "half_open_probe_fails": tally(probing),
            "open_after_clear": tally([still_open]),
            "half_open_probe_succeeds": tally(closing),
            "closed": tally(closed),
        },
        upstream_calls=calls(),
    )
    assert tally(failing) == {"503 circuit_open": 7, "503 upstream_unavailable": 3}
    assert tally(probing) == {"503 circuit_open": 19, "503 upstream_unavailable": 1}
    assert outcome_of(still_open) == "503 circuit_open"
    # The probe succeeds and closes the breaker; the others of its batch were refused
    # (half-open lets one through), or, arriving after it closed, went through.
    assert tally(closing).get("200", 0) >= 1
    assert set(tally(closing)) <= {"200", "503 circuit_open"}
    assert tally(closed) == {"200": 5}
    retry_after_on_refusals(everything)


# ---- 429 with Retry-After ---------------------------------------------------------------


async def test_429_retry_after_is_honoured_or_passed_on(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    app = build(WIXAPP_HTTP_RETRIES=2, WIXAPP_BREAKER_FAILURES=3)
    async with open_backend(app) as client:
        # Short Retry-After: waited for, then the retry succeeds.
        wix_emulator_state.add_fault("token-info", status=429, retry_after=1, count=1)
        short, short_seconds = await timed_get(
            client, "/get-instance", wix_token(wix_instance.instance_id)
        )
        # Long Retry-After: not waited for; passed on to the client at once.
        wix_emulator_state.add_fault("token-info", status=429, retry_after=30)
        long = [
            await timed_get(client, "/get-instance", wix_token(wix_instance.instance_id))
            for _ in range(10)
        ]
        state = app.state.wixapp.wix.client.breaker.state
    responses = [short, *(r for r, _ in long)]
    figures.fault(
        "429_retry_after",
        fault="token-info 429 Retry-After 1 once, then 429 Retry-After 30 on every call",
        requests=len(responses),
        outcomes=tally(responses),
        upstream_calls=wix_emulator_state.calls()["token-info"],
        short_wait_seconds=round(short_seconds, 3),
    )
    assert outcome_of(short) == "200"
    assert short_seconds >= 1.0
    assert tally([r for r, _ in long]) == {"429 rate_limited": 10}
    assert all(r.headers["Retry-After"] == "30" for r, _ in long)
    assert max(s for _, s in long) < 0.5  # not parked for 30 s
    assert wix_emulator_state.calls()["token-info"] == 2 + 10  # no retry of a long wait
    assert state == "closed"  # throttling says nothing about Wix's health


# ---- hangs: the deadline and the cap on calls in flight ---------------------------------


@pytest.mark.parametrize("breaker_failures", [5, 100_000], ids=["breaker", "no-breaker"])
async def test_a_hanging_wix_cannot_exhaust_the_server(
    build: Build,
    wix_transport: httpx.ASGITransport,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
    breaker_failures: int,
) -> None:
    """200 concurrent cold requests while Wix hangs: at most the cap in flight, every one
    answered 503 with Retry-After by the deadline, and warm callers unaffected."""
    cap, timeout, deadline = 10, 0.3, 1.0
    counting = CountingTransport(wix_transport)
    app = build(
        transport=counting,
        WIXAPP_UPSTREAM_CONCURRENCY=cap,
        WIXAPP_HTTP_TIMEOUT=timeout,
        WIXAPP_HTTP_RETRIES=2,
        WIXAPP_UPSTREAM_DEADLINE=deadline,
        WIXAPP_BREAKER_FAILURES=breaker_failures,
    )
    warm = wix_token(wix_instance.instance_id)
    cold = [wix_token(wix_instance.instance_id) for _ in range(200)]
    async with open_backend(app) as client:
        assert (await client.get("/get-instance?include=instance", headers=auth(warm))).is_success
        wix_emulator_state.add_fault("*", hang=True)
        lag = LoopLag()
        probing = asyncio.create_task(lag.probe())
        storm = asyncio.gather(*(timed_get(client, "/get-instance", t) for t in cold))
        await asyncio.sleep(0.1)  # the storm is under way, its calls hanging
        warm_during = await asyncio.gather(
            *(timed_get(client, "/get-instance?include=instance", warm) for _ in range(100))
        )
        timed = await storm
        probing.cancel()
    responses = [r for r, _ in timed]
    seconds = sorted(s for _, s in timed)
    slowest = seconds[-1]
    figures.fault(
        f"hang_storm_{'breaker' if breaker_failures == 5 else 'no_breaker'}",
        fault=(
            f"every call hangs; 200 concurrent cold requests; cap {cap}, timeout {timeout} s, "
            f"deadline {deadline} s, breaker after {breaker_failures} failures"
        ),
        requests=len(responses) + len(warm_during),
        outcomes={"cold": tally(responses), "warm": tally([r for r, _ in warm_during])},
        upstream_calls=counting.calls - 3,
        max_in_flight=counting.max_in_flight,
        median_cold_seconds=round(seconds[len(seconds) // 2], 3),
        slowest_cold_seconds=round(slowest, 3),
        slowest_warm_seconds=round(max(s for _, s in warm_during), 3),
    )
    assert counting.max_in_flight <= cap
    assert {r.status_code for r in responses} == {503}
    assert set(tally(responses)) <= {"503 upstream_timeout", "503 circuit_open"}
    retry_after_on_refusals(responses)
    # The deadline is the server's; how late this busy machine ran the loop is not.
    assert slowest <= deadline + STORM_MARGIN + lag.worst, f"loop lag {lag.worst:.3f} s"
    assert tally([r for r, _ in warm_during]) == {"200": 100}
    assert max(s for _, s in warm_during) < 0.5


@pytest.mark.parametrize("endpoint", ["token", "instance"])
async def test_a_hang_further_down_the_chain_is_bounded_too(
    build: Build,
    wix_install: Any,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
    endpoint: str,
) -> None:
    deadline = 0.8
    app = build(WIXAPP_HTTP_TIMEOUT=0.3, WIXAPP_UPSTREAM_DEADLINE=deadline)
    sites = [wix_install() for _ in range(20)]
    tokens = [wix_token(site.instance_id) for site in sites]
    async with open_backend(app) as client:
        for token in tokens:  # identified (token-info cached); instance data not read yet
            assert (await client.get("/get-instance", headers=auth(token))).is_success
        wix_emulator_state.add_fault(endpoint, hang=True)
        timed = await asyncio.gather(
            *(timed_get(client, "/get-instance?include=instance", t) for t in tokens)
        )
    responses = [r for r, _ in timed]
    figures.fault(
        f"hang_{endpoint}",
        fault=f"{endpoint} hangs; 20 sites' first include=instance, deadline {deadline} s",
        requests=len(responses),
        outcomes=tally(responses),
        upstream_calls=wix_emulator_state.calls(),
        slowest_seconds=round(max(s for _, s in timed), 3),
    )
    assert {r.status_code for r in responses} == {503}
    retry_after_on_refusals(responses)
    assert max(s for _, s in timed) <= deadline + MARGIN


# ---- connection resets ------------------------------------------------------------------


async def test_connection_resets_are_retried(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    app = build(WIXAPP_HTTP_RETRIES=2, WIXAPP_BREAKER_FAILURES=1000)
    tokens = [wix_token(wix_instance.instance_id) for _ in range(20)]
    async with open_backend(app) as client:
        wix_emulator_state.add_fault("token-info", reset=True, share=0.5)
        half = [await client.get("/get-instance", headers=auth(t)) for t in tokens[:10]]
        calls_half = wix_emulator_state.calls()["token-info"]
        wix_emulator_state.clear_faults()
        wix_emulator_state.add_fault("token-info", reset=True)
        every = await asyncio.gather(
            *(client.get("/get-instance", headers=auth(t)) for t in tokens[10:])
        )
    figures.fault(
        "connection_reset",
        fault="token-info connection reset on 1 call in 2, then on every call; 2 retries",
        requests=len(half) + len(every),
        outcomes={"one_in_two": tally(half), "every_call": tally(every)},
        upstream_calls=wix_emulator_state.calls()["token-info"],
    )
    assert tally(half) == {"200": 10}
    assert calls_half == 10 + 9  # calls 2, 4, … 18 were reset, and each retry worked
    assert tally(every) == {"503 upstream_unavailable": 10}
    assert wix_emulator_state.calls()["token-info"] == calls_half + 10 * 3
    retry_after_on_refusals(every)


# ---- malformed JSON ---------------------------------------------------------------------


async def test_malformed_answers_are_502_or_stale_never_500(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
) -> None:
    app = build(WIXAPP_HTTP_RETRIES=2, WIXAPP_BREAKER_FAILURES=1000)
    warm = wix_token(wix_instance.instance_id)
    async with open_backend(app) as client:
        assert (await client.get("/get-instance?include=instance", headers=auth(warm))).is_success
        wix_emulator_state.add_fault("*", malformed=True)
        cold = [
            await client.get("/get-instance", headers=auth(wix_token(wix_instance.instance_id)))
            for _ in range(10)
        ]
        wix_emulator_state.advance_clock(76)  # past the 60 s TTL and its grace: stale
        stale = [
            await client.get("/get-instance?include=instance", headers=auth(warm))
            for _ in range(10)
        ]
        wix_emulator_state.clear_faults()
        wix_emulator_state.add_fault("token-info", malformed=True, status=503)
        truncated_5xx = await asyncio.gather(
            *(
                client.get("/get-instance", headers=auth(wix_token(wix_instance.instance_id)))
                for _ in range(5)
            )
        )
    figures.fault(
        "malformed_json",
        fault="every answer's body cut in half (200), then 503 with a cut body",
        requests=len(cold) + len(stale) + len(truncated_5xx),
        outcomes={
            "cold": tally(cold),
            "warm_stale": tally(stale),
            "truncated_503": tally(truncated_5xx),
        },
        upstream_calls=wix_emulator_state.calls(),
    )
    assert tally(cold) == {"502 upstream_protocol_error": 10}
    assert tally(stale) == {"200": 10}
    assert all(r.json()["instanceStale"] is True for r in stale)
    assert tally(truncated_5xx) == {"503 upstream_unavailable": 5}
    no_500([*cold, *stale, *truncated_5xx])


# ---- an outage: warm callers keep working, cold ones are refused in time ----------------


@pytest.mark.parametrize("outage", ["503", "hang", "reset"])
async def test_warm_requests_are_served_through_an_outage(
    build: Build,
    wix_install: Any,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
    figures: Figures,
    outage: str,
) -> None:
    deadline = 1.0
    app = build(WIXAPP_HTTP_TIMEOUT=0.3, WIXAPP_UPSTREAM_DEADLINE=deadline)
    sites = [wix_install() for _ in range(5)]
    warm = [wix_token(site.instance_id, "USER") for site in sites for _ in range(4)]
    async with open_backend(app) as client:
        for token in warm:
            assert (
                await client.get("/get-instance?include=instance", headers=auth(token))
            ).is_success
        faults: dict[str, dict[str, Any]] = {
            "503": {"status": 503},
            "hang": {"hang": True},
            "reset": {"reset": True},
        }
        fault = faults[outage]
        wix_emulator_state.add_fault("*", **fault)
        warm_paths = ["/get-instance", "/get-instance?include=instance", "/api/settings"]
        warm_during = await asyncio.gather(
            *(timed_get(client, path, token) for token in warm for path in warm_paths)
        )
        writes = [  # a first save ("v0"), then an overwrite ("*"), for each site
            await client.put(
                "/api/settings",
                json={"greeting": f"saved during the outage {i}"},
                headers={**auth(token), "If-Match": "*" if i >= 5 else '"v0"'},
            )
            for i, token in enumerate(warm[::4] + warm[::4])
        ]
        wix_emulator_state.advance_clock(76)  # instance data stale: served anyway, marked
        stale = await asyncio.gather(
            *(client.get("/get-instance?include=instance", headers=auth(t)) for t in warm)
        )
        cold_tokens = [wix_token(sites[i % 5].instance_id) for i in range(50)]
        cold = await asyncio.gather(*(timed_get(client, "/get-instance", t) for t in cold_tokens))
    cold_responses = [r for r, _ in cold]
    figures.fault(
        f"outage_{outage}",
        fault=f"every call to Wix: {outage}; deadline {deadline} s",
        requests=len(warm_during) + len(writes) + len(stale) + len(cold),
        outcomes={
            "warm": tally([r for r, _ in warm_during]),
            "warm_settings_writes": tally(writes),
            "warm_stale_instance": tally(stale),
            "cold": tally(cold_responses),
        },
        upstream_calls=wix_emulator_state.calls(),
        slowest_warm_seconds=round(max(s for _, s in warm_during), 3),
        slowest_cold_seconds=round(max(s for _, s in cold), 3),
    )
    assert tally([r for r, _ in warm_during]) == {"200": len(warm) * len(warm_paths)}
    assert tally(writes) == {"200": 10}
    assert tally(stale) == {"200": len(warm)}
    assert all(r.json()["instanceStale"] for r in stale)
    assert {r.status_code for r in cold_responses} == {503}
    retry_after_on_refusals(cold_responses)
    assert max(s for _, s in cold) <= deadline + MARGIN
    assert max(s for _, s in warm_during) < 0.5


async def test_a_caller_ip_cycling_tokens_during_an_outage_gets_no_500(
    build: Build,
    wix_instance: Installation,
    wix_token: TokenFactory,
    wix_emulator_state: EmulatorState,
) -> None:
    """Faults and the token budget together: refusals only, all JSON."""
    app = build(WIXAPP_TOKEN_INFO_BUDGET_PER_IP=5, WIXAPP_HTTP_RETRIES=0)
    wix_emulator_state.add_fault("token-info", status=503, share=0.5)
    async with open_backend(app), client_for(app, "203.0.113.9") as client:
        responses = [
            await client.get("/get-instance", headers=auth(wix_token(wix_instance.instance_id)))
            for _ in range(12)
        ]
    no_500(responses)
    assert set(tally(responses)) <= {
        "200",
        "503 upstream_unavailable",
        "503 circuit_open",
        "429 token_check_budget_exhausted",
    }
    assert tally(responses)["429 token_check_budget_exhausted"] == 7
