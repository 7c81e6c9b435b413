"""Calling Wix as the caller: the visitor, member or Wix user behind a widget or panel token.

The Python counterpart of @wix/sdk's ``AppStrategy({appId, appSecret, accessToken})`` used
without ``elevated()``. A token from the browser is bound to its browser session, so Wix
first exchanges it (``POST /oauth2/token``, ``grant_type=strip_bound_session``) for a token
with the same identity and instance, unbound; that token goes raw in ``Authorization``.

One exchange per caller token, cached until the unbound token expires, and never longer
than the token cache's max age (``WIXAPP_TOKEN_CACHE_MAX_AGE``: a revoked caller token is
not outlived by its unbound twin), under a hash of the caller's token, never the token
itself; one exchange at a time per token. Before each use the caller's token is vetted
(identified: a cached verdict, a dict lookup), so a removed instance's caller is refused.
Tokens are never logged: only ``WixClient``'s error codes and Wix's request id are.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable

from wixapp.cache.memory import SingleFlight, TTLCache
from wixapp.errors import InvalidTokenError
from wixapp.identity.elevation import RenewingAuth
from wixapp.models import AppToken
from wixapp.upstream.client import WixClient

__all__ = ["CallerAuth", "CallerTokens"]


class CallerTokens:
    """Unbound tokens per caller token: ``await tokens.unbound(token)``."""

    def __init__(
        self,
        *,
        client: WixClient,
        app_id: str,
        app_secret: str,
        clock: Callable[[], float] = time.time,
        leeway: float = 30.0,
        max_size: int = 10_000,
        max_age: float = 300.0,
        vet: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self._client = client
        self._app_id = app_id
        self._app_secret = app_secret
        self._clock = clock
        self._leeway = leeway  # stop using a token this long before it expires
        self._max_age = max_age
        self._vet = vet  # raises for a caller that may no longer be served
        self._cache: TTLCache[str, AppToken] = TTLCache(max_size=max_size, clock=clock)
        self._flights: SingleFlight[str, AppToken] = SingleFlight()

    async def unbound(self, token: str) -> AppToken:
        """The unbound token for ``token``, from the cache or one exchange with Wix."""
        if self._vet is not None:
            await self._vet(token)
        key = _key(token)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        return await self._flights.run(key, lambda: self._exchange(key, token))

    def drop(self, token: str, unbound: AppToken) -> None:
        """Forget ``unbound`` (Wix refused it), unless another exchange replaced it."""
        key = _key(token)
        if self._cache.get(key) is unbound:
            self._cache.pop(key)
        self._flights.discard(key)

    async def _exchange(self, key: str, token: str) -> AppToken:
        unbound = await self._client.strip_bound_session(
            client_id=self._app_id, client_secret=self._app_secret, access_token=token
        )
        unbound = unbound.model_copy(update={"obtained_at": self._clock()})
        until = min(unbound.expires_at - self._leeway, unbound.obtained_at + self._max_age)
        self._cache.set(key, unbound, expires_at=until)
        return unbound


class CallerAuth(RenewingAuth):
    """An ``httpx.Auth`` that calls Wix as the caller behind ``token``.

    On a 401 it exchanges the token once more and resends; if Wix refuses the caller's
    token itself (expired, revoked), the exchange raises ``InvalidTokenError``.
    """

    def __init__(self, tokens: CallerTokens, token: str) -> None:
        if not token:
            raise InvalidTokenError("Send the caller's Wix access token to call Wix as them.")
        self._tokens = tokens
        self._token = token

    def __repr__(self) -> str:  # never the token, not even in a traceback's locals
        return "CallerAuth(token=…)"

    async def current(self) -> AppToken:
        return await self._tokens.unbound(self._token)

    async def renew(self, refused: AppToken) -> AppToken:
        self._tokens.drop(self._token, refused)
        return await self._tokens.unbound(self._token)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
