"""identify(): the trust rules, and the token-info cache counted by the emulator."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from wixapp.emulator import EmulatorState
from wixapp.emulator.records import Installation, RegisteredApp
from wixapp.errors import (
    AuthenticationError,
    ExpiredTokenError,
    InvalidTokenError,
    UpstreamUnavailableError,
)
from wixapp.identity.identifier import Identifier, IdentityPolicy, token_from_header, token_key
from wixapp.models import SubjectType
from wixapp.testing import EMULATOR_BASE_URL, EmulatorClock, TokenFactory
from wixapp.upstream.client import RetryPolicy, WixClient


@pytest.fixture
async def wix_client(wix_transport: httpx.ASGITransport) -> WixClient:
    async with WixClient(
        base_url=EMULATOR_BASE_URL, transport=wix_transport, retry=RetryPolicy(retries=0)
    ) as client:
        yield client  # type: ignore[misc]


def make_identifier(
    client: WixClient, app: RegisteredApp, state: EmulatorState, **policy: float
) -> Identifier:
    return Identifier(
        client=client,
        policy=IdentityPolicy(app_id=app.app_id, **policy),  # type: ignore[arg-type]
        clock=EmulatorClock(state),
    )


@pytest.fixture
def identifier(
    wix_client: WixClient, wix_registered_app: RegisteredApp, wix_emulator_state: EmulatorState
) -> Identifier:
    return make_identifier(wix_client, wix_registered_app, wix_emulator_state)


@pytest.mark.parametrize("subject", ["VISITOR", "MEMBER", "USER", "APP"])
async def test_identifies_each_subject(
    identifier: Identifier, wix_instance: Installation, wix_token: TokenFactory, subject: str
) -> None:
    caller = await identifier.identify(wix_token(wix_instance.instance_id, subject))
    assert caller.instance_id == wix_instance.instance_id
    assert caller.site_id == wix_instance.site_id
    assert caller.subject_type is SubjectType(subject)
    assert caller.subject_id


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("TOKEN", "TOKEN"),
        ("Bearer TOKEN", "TOKEN"),
        ("bearer   TOKEN", "TOKEN"),
        (" TOKEN ", "TOKEN"),
    ],
)
def test_header_forms(header: str, expected: str) -> None:
    token = "OauthNG.JWS.aGVhZA.cGF5bG9hZA.c2lnbmF0dXJl"
    assert token_from_header(header.replace("TOKEN", token)) == expected.replace("TOKEN", token)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("Bearer", "malformed_token"),
        ("hello world", "malformed_token"),
        ("short.x", "malformed_token"),
        ("OauthNG.JWS.ä.b.c.defghijklmnop", "malformed_token"),
        ("x" * 9000 + ".y", "malformed_token"),
        ("OauthNG JWS a b c defghijklmnop", "malformed_token"),
    ],
)
def test_junk_headers_are_refused_locally(header: str | None, code: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        token_from_header(header)
    assert caught.value.code == code
    assert caught.value.status == 401
    assert "WWW-Authenticate" in caught.value.headers()


async def test_junk_never_reaches_wix(
    identifier: Identifier, wix_emulator_state: EmulatorState
) -> None:
    for junk in ("a b c", "{}", "x" * 10_000, "ðŸ˜€.token.value.longer"):
        with pytest.raises(AuthenticationError):
            await identifier.identify(junk)
    assert wix_emulator_state.calls()["token-info"] == 0


async def test_another_apps_token_is_rejected(
    identifier: Identifier,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    other_app = wix_emulator_state.register_app()
    token = wix_token(wix_instance.instance_id, app_id=other_app.app_id)
    with pytest.raises(AuthenticationError) as caught:
        await identifier.identify(token)
    assert caught.value.code == "wrong_app"


@pytest.mark.parametrize("invalid", ["status", "inactive"])
async def test_an_expired_token_is_rejected(
    identifier: Identifier,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_token: TokenFactory,
    invalid: str,
) -> None:
    wix_emulator_state.set_behaviour(token_info_invalid=invalid)  # type: ignore[arg-type]
    token = wix_token(wix_instance.instance_id, lifetime=60)
    wix_emulator_state.advance_clock(3600)
    with pytest.raises(ExpiredTokenError) as refused:
        await identifier.identify(token)
    assert refused.value.code == "expired_token"


async def test_a_refused_token_that_has_not_expired_stays_invalid(
    identifier: Identifier,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    token = wix_token(wix_instance.instance_id, lifetime=3600)
    wix_emulator_state.revoke_token(token)
    with pytest.raises(InvalidTokenError) as refused:
        await identifier.identify(token)
    assert refused.value.code == "invalid_token"


async def test_a_cached_caller_never_outlives_its_token(
    identifier: Identifier,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    token = wix_token(wix_instance.instance_id, lifetime=120)
    await identifier.identify(token)
    await identifier.identify(token)
    assert wix_emulator_state.calls()["token-info"] == 1
    wix_emulator_state.advance_clock(120 + 31)  # past exp and the 30 s leeway
    with pytest.raises(AuthenticationError):
        await identifier.identify(token)
    assert wix_emulator_state.calls()["token-info"] == 2


async def test_max_age_caps_the_cache_so_revocation_is_seen(
    wix_client: WixClient,
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    identifier = make_identifier(wix_client, wix_registered_app, wix_emulator_state, max_age=60)
    token = wix_token(wix_instance.instance_id)
    await identifier.identify(token)
    wix_emulator_state.revoke_token(token)
    await identifier.identify(token)  # still cached: within max_age
    wix_emulator_state.advance_clock(61)
    with pytest.raises(InvalidTokenError):
        await identifier.identify(token)


async def test_invalid_answers_are_remembered_briefly(
    identifier: Identifier, wix_emulator_state: EmulatorState
) -> None:
    bogus = "OauthNG.JWS.aGVhZA.cGF5bG9hZA.bm90LXNpZ25lZA"
    for _ in range(5):
        with pytest.raises(InvalidTokenError):
            await identifier.identify(bogus)
    assert wix_emulator_state.calls()["token-info"] == 1
    wix_emulator_state.advance_clock(31)
    with pytest.raises(InvalidTokenError):
        await identifier.identify(bogus)
    assert wix_emulator_state.calls()["token-info"] == 2


async def test_upstream_failures_are_not_cached(
    identifier: Identifier,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    token = wix_token(wix_instance.instance_id)
    wix_emulator_state.add_fault("token-info", status=503, count=1)
    with pytest.raises(UpstreamUnavailableError):
        await identifier.identify(token)
    assert (await identifier.identify(token)).instance_id == wix_instance.instance_id


async def test_200_concurrent_requests_with_one_fresh_token_make_one_call(
    identifier: Identifier,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    token = wix_token(wix_instance.instance_id)
    wix_emulator_state.add_fault("token-info", latency=0.05)
    callers = await asyncio.gather(*(identifier.identify(token) for _ in range(200)))
    assert {c.instance_id for c in callers} == {wix_instance.instance_id}
    assert wix_emulator_state.calls()["token-info"] == 1


async def test_1000_requests_over_100_tokens_make_100_calls(
    identifier: Identifier,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    tokens = [wix_token(wix_instance.instance_id) for _ in range(100)]
    await asyncio.gather(*(identifier.identify(tokens[i % 100]) for i in range(1000)))
    assert wix_emulator_state.calls()["token-info"] == 100


async def test_without_cache_every_request_asks_wix(
    wix_client: WixClient,
    wix_registered_app: RegisteredApp,
    wix_emulator_state: EmulatorState,
    wix_instance: Installation,
    wix_token: TokenFactory,
) -> None:
    identifier = Identifier(
        client=wix_client,
        policy=IdentityPolicy(app_id=wix_registered_app.app_id),
        cache_enabled=False,
    )
    token = wix_token(wix_instance.instance_id)
    for _ in range(5):
        await identifier.identify(token)
    assert wix_emulator_state.calls()["token-info"] == 5


def test_the_cache_key_is_a_hash_not_the_token() -> None:
    token = "OauthNG.JWS.aGVhZA.cGF5bG9hZA.c2lnbmF0dXJl"
    key = token_key(token)
    assert len(key) == 32
    assert token.encode() not in key
