"""Token → Caller: who is calling, established through token-info and the trust rules.

Wix access tokens cannot be verified locally (spec §5): token-info is the only check. This
module makes that check correct (the trust rules), cheap (a cache keyed by a hash of the
token, never the token itself, whose entries never outlive the token) and safe for Wix's
rate limit (concurrent misses for one token share one upstream call, across all processes
when a shared tier is configured; junk never leaves the process; invalid answers are
remembered briefly; an optional budget caps the calls per client address, per instance and
overall). A removed instance's callers are refused before anything cached is served
(:mod:`wixapp.identity.removal`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from wixapp.cache import Cache, SharedBackend
from wixapp.errors import (
    AuthenticationError,
    ExpiredTokenError,
    InvalidInstanceError,
    InvalidTokenError,
)
from wixapp.identity.budget import TokenCheckBudget, expiry_hint, instance_hint
from wixapp.identity.removal import RemovedInstances
from wixapp.identity.trust import trust_token_info
from wixapp.models import Caller, SubjectType, TokenInfo
from wixapp.protocol import strip_bearer
from wixapp.upstream.client import WixClient

__all__ = ["Identifier", "IdentityPolicy", "token_from_header", "token_key"]

logger = logging.getLogger("wixapp.identity")

# Wix tokens (OauthNG.JWS.…, JWTs, the legacy signed instance) are base64url pieces joined by
# dots. Anything else (spaces, unicode, absurd lengths) is rejected here, for free.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-+/=]*)+")
MIN_TOKEN_LENGTH = 20
MAX_TOKEN_LENGTH = 8192

CacheObserver = Callable[[str], None]
"""Told "hit", "miss", "negative_hit" for every lookup (of the process's memory tier)."""

NAMESPACE = "ti"
"""The verdict cache's namespace in the shared tier."""


@dataclass(frozen=True, slots=True)
class IdentityPolicy:
    app_id: str
    max_age: float = 300.0
    invalid_ttl: float = 30.0
    leeway: float = 30.0
    cache_size: int = 100_000


def token_from_header(header: str | None, *, check_shape: bool = True) -> str:
    """The token of an ``Authorization`` header, raw (as fetchWithAuth sends) or Bearer.

    ``check_shape=False`` leaves the shape check to :meth:`Identifier.identify`, which runs
    it on every path that can reach Wix (a cache hit needs none)."""
    if header is None or not header.strip():
        raise AuthenticationError(
            "Send the Wix access token in the Authorization header (fetchWithAuth does this).",
            code="missing_token",
        )
    token = strip_bearer(header)
    if check_shape:
        check_token_shape(token)
    return token


def check_token_shape(token: str) -> None:
    """Reject, without calling Wix, what cannot be a Wix token."""
    if not (MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH) or not _TOKEN_SHAPE.fullmatch(
        token
    ):
        raise AuthenticationError(
            "The Authorization header does not hold a Wix access token.",
            code="malformed_token",
        )


def token_key(token: str) -> bytes:
    """The cache key of a token: its SHA-256, so no cache ever holds a usable token."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class _Rejected:
    """A remembered refusal. The error is rebuilt on each use: re-raising one exception
    object from many requests would grow its traceback without bound."""

    kind: type[AuthenticationError]
    detail: str
    code: str

    @classmethod
    def of(cls, error: AuthenticationError) -> _Rejected:
        return cls(type(error), error.detail, error.code)

    def error(self) -> AuthenticationError:
        return self.kind(self.detail, code=self.code)


_Verdict = Caller | _Rejected
_REJECTIONS: dict[str, type[AuthenticationError]] = {
    kind.__name__: kind for kind in (AuthenticationError, InvalidTokenError, InvalidInstanceError)
}


class _VerdictCodec:
    """Verdicts as JSON for the shared tier: the caller or the refusal, never the token."""

    def encode(self, key: str, value: _Verdict) -> bytes:
        if isinstance(value, _Rejected):
            rejected = {"kind": value.kind.__name__, "detail": value.detail, "code": value.code}
            return json.dumps({"rejected": rejected}).encode()
        return json.dumps({"caller": asdict(value)}).encode()

    def decode(self, key: str, data: bytes) -> _Verdict:
        body = json.loads(data)
        if "rejected" in body:
            rejected = body["rejected"]
            kind = _REJECTIONS.get(rejected["kind"], AuthenticationError)
            return _Rejected(kind, str(rejected["detail"]), str(rejected["code"]))
        caller = body["caller"]
        return Caller(
            instance_id=str(caller["instance_id"]),
            subject_type=SubjectType.parse(caller["subject_type"]),
            subject_id=caller["subject_id"],
            site_id=caller["site_id"],
            expires_at=caller["expires_at"],
        )

    def tag(self, value: _Verdict) -> str:
        return ""


class Identifier:
    """``await identifier.identify(token)`` → Caller, or an AuthenticationError.

    ``shared`` adds a tier shared by every process (Redis): one token-info call per token
    across all of them. Without it the cache lives in this process only. ``budget`` is
    spent by each token-info call (never by a cached answer), on behalf of the ``client``
    address given to ``identify``.
    """

    def __init__(
        self,
        *,
        client: WixClient,
        policy: IdentityPolicy,
        cache_enabled: bool = True,
        clock: Callable[[], float] = time.time,
        observer: CacheObserver | None = None,
        shared: SharedBackend | None = None,
        shared_observer: Callable[[str], None] | None = None,
        budget: TokenCheckBudget | None = None,
        removed: RemovedInstances | None = None,
    ) -> None:
        self._client = client
        self._removed = removed
        self._policy = policy
        self._budget = budget
        self._clock = clock
        self._cache: Cache[_Verdict] | None = (
            Cache(
                namespace=NAMESPACE,
                codec=_VerdictCodec(),
                max_size=policy.cache_size,
                shared=shared,
                clock=clock,
                observer=shared_observer,
            )
            if cache_enabled
            else None
        )
        self._observer = observer

    async def identify(self, token: str, *, client: str | None = None) -> Caller:
        """The caller behind ``token``; ``client`` (an IP address) is charged if Wix is asked."""
        if self._cache is None or len(token) > MAX_TOKEN_LENGTH:
            check_token_shape(token)
            return self._served(_unwrap(await self._ask_wix(token, client)))
        key = token_key(token).hex()
        verdict = self._cache.peek(key)
        if verdict is None:
            # Only a token that passed this check was ever asked about, so a cache hit
            # needs no second look: the hot path skips the regular expression.
            check_token_shape(token)
            self._observe("miss")
            verdict = await self._cache.load(key, lambda: self._fetch(token, client))
        else:
            self._observe("negative_hit" if isinstance(verdict, _Rejected) else "hit")
        return self._served(_unwrap(verdict))

    def _served(self, caller: Caller) -> Caller:
        if self._removed is not None:
            self._removed.check(caller.instance_id)  # one dict lookup
        return caller

    async def forget(self, token: str) -> None:
        """Drop a token's cached verdict everywhere (e.g. after a logout the app learns of)."""
        if self._cache is not None:
            await self._cache.forget(token_key(token).hex())

    def clear(self) -> None:
        """Empty this process's memory tier."""
        if self._cache is not None:
            self._cache.clear()

    async def _fetch(self, token: str, client: str | None) -> tuple[_Verdict, float]:
        verdict = await self._ask_wix(token, client)
        return verdict, self._expiry_of(verdict)

    async def _ask_wix(self, token: str, client: str | None) -> _Verdict:
        budget = self._budget
        if budget is not None:  # raises, uncached, when a budget is spent
            await budget.spend(client, instance_hint(token))
        try:
            info = await self._client.token_info(token)
        except InvalidTokenError as error:
            if budget is not None:
                await budget.rejected(client)
            return _Rejected.of(self._explained(error, token))
        if budget is not None and info.active and info.instance_id:
            await budget.confirmed(info.instance_id, client)
        try:
            return self._trust(info)
        except AuthenticationError as error:
            if budget is not None:
                await budget.rejected(client)  # another app's token, or an expired one
            return _Rejected.of(self._explained(error, token))

    def _explained(self, error: AuthenticationError, token: str) -> AuthenticationError:
        """Wix refuses invalid, expired and revoked tokens alike: a token whose own payload
        says it has expired is refused as expired, so the widget knows to get a fresh one."""
        if type(error) is not InvalidTokenError:
            return error
        exp = expiry_hint(token)
        if exp is not None and exp + self._policy.leeway <= self._clock():
            return ExpiredTokenError()
        return error

    def _trust(self, info: TokenInfo) -> Caller:
        policy = self._policy
        return trust_token_info(info, app_id=policy.app_id, now=self._clock(), leeway=policy.leeway)

    def _expiry_of(self, verdict: _Verdict) -> float:
        now = self._clock()
        if isinstance(verdict, _Rejected):
            return now + self._policy.invalid_ttl
        deadline = now + self._policy.max_age
        if verdict.expires_at is not None:
            # Never serve a token from cache past its own expiry (RFC 7662 §4).
            deadline = min(deadline, verdict.expires_at + self._policy.leeway)
        return deadline

    def _observe(self, result: str) -> None:
        if self._observer is not None:
            self._observer(result)


def _unwrap(verdict: _Verdict) -> Caller:
    if isinstance(verdict, _Rejected):
        raise verdict.error()
    return verdict
