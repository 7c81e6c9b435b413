"""Elevation: app-identity tokens per instance, and the instance data they can read.

Widget and panel tokens cannot read instance data (spec §4); an app token minted with
client_credentials for the instance can. Tokens live 4 hours: one is minted per instance,
reused until shortly before it expires, and minted by one caller at a time. Instance data is
cached briefly and, when Wix is unavailable, a stale copy is served and marked stale.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

import httpx

from wixapp.cache import SingleFlight, TTLCache
from wixapp.client import WixClient
from wixapp.errors import InvalidTokenError, RateLimitedError, UpstreamUnavailableError
from wixapp.models import AppInstance, AppToken

__all__ = ["ElevatedAuth", "Elevation", "ElevationPolicy", "InstanceData"]

logger = logging.getLogger("wixapp.elevation")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ElevationPolicy:
    app_id: str
    app_secret: str
    refresh_margin: float = 300.0
    instance_ttl: float = 60.0
    instance_stale_ttl: float = 86_400.0
    max_instances: int = 100_000


@dataclass(frozen=True, slots=True)
class InstanceData:
    """Instance and site data as Wix last told it; ``stale`` when Wix could not be asked."""

    instance_id: str
    data: AppInstance
    fetched_at: float
    stale: bool = False


@dataclass(frozen=True, slots=True)
class _Stored:
    data: AppInstance
    fetched_at: float


class Elevation:
    """``await elevation.app_token(id)`` and ``await elevation.instance(id)``."""

    def __init__(
        self,
        *,
        client: WixClient,
        policy: ElevationPolicy,
        cache_enabled: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._policy = policy
        self._cache_enabled = cache_enabled
        self._clock = clock
        self._tokens: TTLCache[str, AppToken] = TTLCache(max_size=policy.max_instances, clock=clock)
        self._instances: TTLCache[str, _Stored] = TTLCache(
            max_size=policy.max_instances, clock=clock
        )
        self._token_flights: SingleFlight[str, AppToken] = SingleFlight()
        self._instance_flights: SingleFlight[str, _Stored] = SingleFlight()

    # -- app tokens -----------------------------------------------------------------------

    async def app_token(self, instance_id: str) -> AppToken:
        """A valid app token for the instance, minted at most once per refresh window."""
        if not self._cache_enabled:
            return await self._mint(instance_id)
        token = self._tokens.get(instance_id)
        if token is not None:
            return token
        return await self._token_flights.run(instance_id, lambda: self._mint(instance_id))

    def drop_app_token(self, instance_id: str, token: AppToken | None = None) -> None:
        """Forget the instance's token (only ``token``, if given and still the cached one)."""
        cached = self._tokens.get(instance_id)
        if token is None or cached is None or cached.access_token == token.access_token:
            self._tokens.pop(instance_id)

    async def _mint(self, instance_id: str) -> AppToken:
        token = await self._client.create_app_token(
            client_id=self._policy.app_id,
            client_secret=self._policy.app_secret,
            instance_id=instance_id,
        )
        token = token.model_copy(update={"obtained_at": self._clock()})
        if self._cache_enabled:
            reuse_until = token.expires_at - self._policy.refresh_margin
            self._tokens.set(instance_id, token, expires_at=reuse_until)
        return token

    # -- instance data --------------------------------------------------------------------

    async def instance(self, instance_id: str) -> InstanceData:
        """Instance and site data: cached briefly; stale (and marked so) when Wix is down."""
        stored = self._instances.get(instance_id) if self._cache_enabled else None
        now = self._clock()
        if stored is not None and now - stored.fetched_at < self._policy.instance_ttl:
            return InstanceData(instance_id, stored.data, stored.fetched_at)
        try:
            fresh = await self._instance_flights.run(
                instance_id, lambda: self._read_instance(instance_id)
            )
        except (UpstreamUnavailableError, RateLimitedError):
            if stored is None:
                raise
            logger.warning("serving stale instance data: Wix is unavailable")
            return InstanceData(instance_id, stored.data, stored.fetched_at, stale=True)
        return InstanceData(instance_id, fresh.data, fresh.fetched_at)

    def forget_instance(self, instance_id: str) -> None:
        """Drop everything cached for the instance (app removed, plan changed)."""
        self._instances.pop(instance_id)
        self._tokens.pop(instance_id)

    async def _read_instance(self, instance_id: str) -> _Stored:
        data = await self.with_app_token(instance_id, self._client.get_app_instance)
        stored = _Stored(data, self._clock())
        if self._cache_enabled:
            keep_until = stored.fetched_at + self._policy.instance_stale_ttl
            self._instances.set(instance_id, stored, expires_at=keep_until)
        return stored

    async def with_app_token(self, instance_id: str, call: Callable[[str], Awaitable[T]]) -> T:
        """Run ``call(token)``; if Wix refuses the token (401), mint a new one once and retry."""
        token = await self.app_token(instance_id)
        try:
            return await call(token.access_token)
        except InvalidTokenError:
            self.drop_app_token(instance_id, token)
            token = await self.app_token(instance_id)
            return await call(token.access_token)

    def auth(self, instance_id: str) -> ElevatedAuth:
        """An ``httpx.Auth`` for any Wix REST call on behalf of the instance."""
        return ElevatedAuth(self, instance_id)


class ElevatedAuth(httpx.Auth):
    """The Python counterpart of the SDK's ``AppStrategy(...).elevated()``.

    Injects the instance's cached app token; on a 401 it mints a new token once and resends.
    """

    requires_response_body = False

    def __init__(self, elevation: Elevation, instance_id: str) -> None:
        self._elevation = elevation
        self._instance_id = instance_id

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ElevatedAuth is async-only: use it with httpx.AsyncClient.")
        yield request  # pragma: no cover

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._elevation.app_token(self._instance_id)
        request.headers["Authorization"] = token.access_token
        response = yield request
        if response.status_code == 401:
            self._elevation.drop_app_token(self._instance_id, token)
            token = await self._elevation.app_token(self._instance_id)
            request.headers["Authorization"] = token.access_token
            yield request
