"""WixClient against the in-process emulator, in each of its switchable behaviours."""

from __future__ import annotations

import time

import httpx
import pytest

from wixapp.breaker import BreakerState, CircuitBreaker
from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.errors import (
    AppCredentialsError,
    InvalidTokenError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    UpstreamUnavailableError,
    WixRequestError,
)
from wixapp.models import SubjectType
from wixapp.protocol import parse_retry_after
from wixapp.testing import EMULATOR_BASE_URL, InstallFactory
from wixapp.upstream.client import RetryPolicy, WixClient

FAST_RETRIES = RetryPolicy(retries=2, base_delay=0.01, max_delay=0.02, max_retry_after=1.0)


@pytest.fixture
async def client(wix_transport: httpx.ASGITransport) -> WixClient:
    async with WixClient(
        base_url=EMULATOR_BASE_URL,
        transport=wix_transport,
        retry=FAST_RETRIES,
        timeout=0.5,
        deadline=5.0,
    ) as wix:
        yield wix  # type: ignore[misc]


@pytest.mark.parametrize("style", ["string", "native"])
async def test_token_info_in_both_value_styles(
    client: WixClient,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_registered_app: RegisteredApp,
    style: str,
) -> None:
    wix_emulator_state.set_behaviour(value_style=style)  # type: ignore[arg-type]
    minted = wix_emulator_state.mint_token(wix_instance.instance_id, "MEMBER")
    info = await client.token_info(minted.token)
    assert info.active is True
    assert info.instance_id == wix_instance.instance_id
    assert info.client_id == wix_registered_app.app_id
    assert info.subject_type is SubjectType.MEMBER
    assert info.exp == minted.exp


@pytest.mark.parametrize("invalid", ["status", "inactive"])
async def test_an_invalid_token_in_both_answer_forms(
    client: WixClient, wix_emulator_state: EmulatorState, invalid: str
) -> None:
    wix_emulator_state.set_behaviour(token_info_invalid=invalid)  # type: ignore[arg-type]
    with pytest.raises(InvalidTokenError):
        await client.token_info("OauthNG.JWS.bm90.YS10b2tlbg.c2ln")


@pytest.mark.parametrize("invalid", ["status", "inactive"])
async def test_revoked_and_expired_tokens_are_invalid(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation, invalid: str
) -> None:
    wix_emulator_state.set_behaviour(token_info_invalid=invalid)  # type: ignore[arg-type]
    revoked = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.revoke_token(revoked)
    short = wix_emulator_state.mint_token(wix_instance.instance_id, lifetime=60).token
    wix_emulator_state.advance_clock(61)
    for token in (revoked, short):
        with pytest.raises(InvalidTokenError):
            await client.token_info(token)


async def test_elevation_then_instance_read(
    client: WixClient,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
) -> None:
    token = await client.create_app_token(
        client_id=wix_registered_app.app_id,
        client_secret=wix_registered_app.app_secret,
        instance_id=wix_instance.instance_id,
    )
    assert token.token_type == "Bearer"
    assert token.expires_in == 14400
    data = await client.get_app_instance(token.access_token)
    assert data.instance.instance_id == wix_instance.instance_id
    assert data.site.site_id == wix_instance.site_id


@pytest.mark.parametrize("style", ["wix", "oauth"])
async def test_a_wrong_secret_is_refused_in_both_error_styles(
    client: WixClient,
    wix_emulator_state: EmulatorState,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
    style: str,
) -> None:
    wix_emulator_state.set_behaviour(token_error_style=style)  # type: ignore[arg-type]
    with pytest.raises(AppCredentialsError) as caught:
        await client.create_app_token(
            client_id=wix_registered_app.app_id,
            client_secret="wrong-secret",
            instance_id=wix_instance.instance_id,
        )
    assert "wrong-secret" not in str(caught.value)
    assert caught.value.wix_status is not None
    assert 400 <= caught.value.wix_status < 500


@pytest.mark.parametrize("subject", ["VISITOR", "MEMBER"])
async def test_widget_tokens_cannot_read_the_instance(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation, subject: str
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id, subject).token
    with pytest.raises(PermissionDeniedError):
        await client.get_app_instance(token)


async def test_a_wix_users_token_reads_its_own_instance(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id, "USER").token
    instance = await client.get_app_instance(token)  # as Wix's docs allow a Wix user
    assert instance.instance.instance_id == wix_instance.instance_id


async def test_retries_5xx_then_succeeds(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", status=503, count=2)
    info = await client.token_info(token)
    assert info.instance_id == wix_instance.instance_id
    assert wix_emulator_state.calls()["token-info"] == 3


async def test_attempts_are_bounded(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", status=500)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.token_info(token)
    assert caught.value.wix_status == 500
    assert wix_emulator_state.calls()["token-info"] == 1 + FAST_RETRIES.retries


async def test_retry_after_is_honoured(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", status=429, retry_after=0.3, count=1)
    started = time.perf_counter()
    await client.token_info(token)
    assert time.perf_counter() - started >= 0.3
    assert wix_emulator_state.calls()["token-info"] == 2


async def test_a_long_retry_after_goes_to_the_caller_at_once(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", status=429, retry_after=30)
    started = time.perf_counter()
    with pytest.raises(RateLimitedError) as caught:
        await client.token_info(token)
    assert time.perf_counter() - started < 1
    assert caught.value.retry_after == 30
    assert caught.value.headers() == {"Retry-After": "30"}
    assert wix_emulator_state.calls()["token-info"] == 1


@pytest.mark.parametrize("status", [400, 404, 409])
async def test_no_retry_on_other_4xx(
    client: WixClient,
    wix_emulator_state: EmulatorState,
    wix_registered_app: RegisteredApp,
    wix_instance: Installation,
    status: int,
) -> None:
    wix_emulator_state.add_fault("token", status=status)
    with pytest.raises(WixRequestError) as caught:
        await client.create_app_token(
            client_id=wix_registered_app.app_id,
            client_secret=wix_registered_app.app_secret,
            instance_id=wix_instance.instance_id,
        )
    assert caught.value.wix_status == status
    assert wix_emulator_state.calls()["token"] == 1


async def test_a_hang_times_out_and_is_retried_a_bounded_number_of_times(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", hang=True)
    started = time.perf_counter()
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.token_info(token)
    assert caught.value.code == "upstream_timeout"
    assert time.perf_counter() - started < 3 * 0.5 + 1
    assert wix_emulator_state.calls()["token-info"] == 3


async def test_a_malformed_body_is_a_protocol_error(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", malformed=True)
    with pytest.raises(ProtocolError):
        await client.token_info(token)


async def test_added_latency_still_succeeds(
    client: WixClient, wix_emulator_state: EmulatorState, wix_instance: Installation
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", latency=0.1)
    started = time.perf_counter()
    await client.token_info(token)
    assert time.perf_counter() - started >= 0.1


async def test_connection_errors_are_retried_then_unavailable() -> None:
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    async with WixClient(transport=httpx.MockTransport(refuse), retry=FAST_RETRIES) as wix:
        with pytest.raises(UpstreamUnavailableError, match="ConnectError"):
            await wix.token_info("OauthNG.JWS.a.b.c-0123456789")
    assert calls == 3


async def test_wix_rate_limit_is_per_instance(
    client: WixClient, wix_emulator_state: EmulatorState, wix_install: InstallFactory
) -> None:
    first = wix_install()
    second = wix_install()
    wix_emulator_state.set_behaviour(rate_limit=True)
    token = wix_emulator_state.mint_token(first.instance_id).token
    for _ in range(200):
        await client.token_info(token)
    with pytest.raises(RateLimitedError) as caught:
        await client.token_info(token)
    assert caught.value.retry_after is not None
    other = wix_emulator_state.mint_token(second.instance_id).token
    assert (await client.token_info(other)).instance_id == second.instance_id


def test_retry_after_parses_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=90.0) == pytest.approx(10.0)


def test_backoff_is_bounded_and_jittered() -> None:
    policy = RetryPolicy(retries=3, base_delay=0.1, max_delay=0.3, jitter=0.5)
    delays = [policy.backoff(attempt, None) for attempt in range(4)]
    assert delays[3] is None
    assert all(d is not None and 0 < d <= 0.3 for d in delays[:3])
    assert policy.backoff(0, 2.0) == 2.0
    assert RetryPolicy(max_retry_after=1.0).backoff(0, 2.0) is None


async def test_the_whole_call_ends_by_the_deadline(
    wix_transport: httpx.ASGITransport,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    wix_emulator_state.add_fault("token-info", hang=True)
    async with WixClient(
        base_url=EMULATOR_BASE_URL,
        transport=wix_transport,
        retry=RetryPolicy(retries=10, base_delay=0.01),
        timeout=0.2,
        deadline=0.5,
    ) as wix:
        started = time.perf_counter()
        with pytest.raises(UpstreamUnavailableError) as caught:
            await wix.token_info(token)
    assert caught.value.code == "upstream_timeout"
    assert time.perf_counter() - started < 0.8
    assert wix_emulator_state.calls()["token-info"] <= 3


async def test_the_breaker_opens_then_probes(
    wix_transport: httpx.ASGITransport,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
) -> None:
    token = wix_emulator_state.mint_token(wix_instance.instance_id).token
    now = [0.0]
    breaker = CircuitBreaker(failures=3, reset_after=10, clock=lambda: now[0])
    wix_emulator_state.add_fault("token-info", status=503)
    async with WixClient(
        base_url=EMULATOR_BASE_URL,
        transport=wix_transport,
        retry=RetryPolicy(retries=0),
        breaker=breaker,
    ) as wix:
        for _ in range(3):
            with pytest.raises(UpstreamUnavailableError):
                await wix.token_info(token)
        assert breaker.state is BreakerState.OPEN
        with pytest.raises(UpstreamUnavailableError) as caught:
            await wix.token_info(token)
        assert caught.value.code == "circuit_open"
        assert caught.value.headers() == {"Retry-After": "10"}
        assert wix_emulator_state.calls()["token-info"] == 3  # the open circuit sent nothing
        now[0] = 11
        with pytest.raises(UpstreamUnavailableError):
            await wix.token_info(token)  # the probe fails: open again
        assert breaker.state is BreakerState.OPEN
        wix_emulator_state.clear_faults()
        now[0] = 22
        assert (await wix.token_info(token)).instance_id == wix_instance.instance_id
        assert breaker.state is BreakerState.CLOSED
    assert wix_emulator_state.calls()["token-info"] == 5


async def test_4xx_and_429_do_not_open_the_breaker(
    wix_transport: httpx.ASGITransport, wix_emulator_state: EmulatorState
) -> None:
    breaker = CircuitBreaker(failures=2)
    wix_emulator_state.add_fault("token-info", status=429, retry_after=60, count=3)
    async with WixClient(
        base_url=EMULATOR_BASE_URL, transport=wix_transport, breaker=breaker
    ) as wix:
        for _ in range(3):
            with pytest.raises(RateLimitedError):
                await wix.token_info("OauthNG.JWS.aGVhZA.cGF5bG9hZA.c2lnbmF0dXJl")
        for _ in range(3):
            with pytest.raises(InvalidTokenError):
                await wix.token_info("OauthNG.JWS.aGVhZA.cGF5bG9hZA.c2lnbmF0dXJl")
    assert breaker.state is BreakerState.CLOSED


async def test_token_info_accepts_a_legacy_instance_value(
    client: WixClient,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_registered_app: RegisteredApp,
) -> None:
    # Spec §2/§8: token-info takes the legacy `instance` parameter value too.
    value = wix_emulator_state.sign_legacy_instance(wix_instance.instance_id)
    info = await client.token_info(value)
    assert info.active is True
    assert info.instance_id == wix_instance.instance_id
    assert info.client_id == wix_registered_app.app_id
    assert info.subject_type is SubjectType.USER
