"""Wix's wire conventions, as the library and the emulator both read and write them."""

from __future__ import annotations

import pytest

from wixapp.errors import AuthenticationError, RateLimitedError
from wixapp.identity import token_from_header
from wixapp.protocol import ENDPOINT_PATHS, Endpoint, retry_after_seconds, strip_bearer

TOKEN = "OauthNG.JWS.eyJraWQiOiJhYmMifQ.eyJkYXRhIjoiMSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("header", "credential"),
    [
        (TOKEN, TOKEN),
        (f"Bearer {TOKEN}", TOKEN),
        (f"  bearer   {TOKEN} ", TOKEN),
        (f"BEARER\t{TOKEN}", TOKEN),
        (f"junk Bearer {TOKEN}", f"junk Bearer {TOKEN}"),  # only a leading scheme
        (f"{TOKEN}Bearer x", f"{TOKEN}Bearer x"),
    ],
)
def test_only_a_leading_bearer_scheme_is_stripped(header: str, credential: str) -> None:
    assert strip_bearer(header) == credential


def test_a_bearer_further_in_leaves_a_malformed_header() -> None:
    with pytest.raises(AuthenticationError) as refused:
        token_from_header(f"junk Bearer {TOKEN}")
    assert refused.value.code == "malformed_token"


@pytest.mark.parametrize(
    ("seconds", "header"), [(None, 1), (0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (29.5, 30)]
)
def test_retry_after_rounds_up_and_is_never_zero(seconds: float | None, header: int) -> None:
    assert retry_after_seconds(seconds) == header
    assert RateLimitedError(retry_after=seconds).headers() == {"Retry-After": str(header)}


def test_every_endpoint_has_its_path() -> None:
    assert set(ENDPOINT_PATHS) == set(Endpoint)
    assert ENDPOINT_PATHS[Endpoint.TOKEN_INFO] == "/oauth2/token-info"
