"""Elevation: app-identity tokens per instance, and the instance data they can read.

Widget and panel tokens cannot read instance data (spec §4); an app token minted with
client_credentials for the instance can. Tokens live 4 hours: one is minted per instance,
reused until shortly before it expires, and minted by one caller at a time; a token is
minted again in the background in the last quarter of its life (``REFRESH_AHEAD``).

Instance data is read again once ``instance_ttl`` has passed, in the background: the first
read after that gets the copy at once and starts one refresh (stale-while-revalidate, as
RFC 5861 has it), for up to ``REVALIDATE_GRACE`` of the TTL more; only a read later than that
waits for Wix. So a steady caller never waits, and Wix is asked no more often than once per
TTL per instance (a refresh ahead of the TTL would ask more often). When Wix is unavailable
(or throttles, or answers something unreadable), a stale copy is served and marked stale.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TypeVar, cast

import httpx

from wixapp.cache import Cache, SharedBackend
from wixapp.cache.layered import REFRESH_AHEAD, done
from wixapp.errors import (
    InvalidTokenError,
    ProtocolError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from wixapp.identity.removal import RemovedInstances
from wixapp.models import AppInstance, AppToken
from wixapp.upstream.client import WixClient

__all__ = ["ElevatedAuth", "Elevation", "ElevationPolicy", "InstanceData", "RenewingAuth"]

logger = logging.getLogger("wixapp.identity.elevation")

REVALIDATE_GRACE = 0.25
"""Share of ``instance_ttl``, after it, in which a read gets the copy at once while one
refresh runs in the background (stale-while-revalidate)."""
_USABLE_FOR = 1 + REVALIDATE_GRACE

T = TypeVar("T")

FetchedHook = Callable[[str, AppInstance], None]
"""Told ``(instance_id, data)`` each time instance data is read from Wix (not from cache)."""

TOKENS = "at"
INSTANCES = "in"
"""The namespaces of app tokens and instance data in the shared tier."""


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


class _TokenCodec:
    """App tokens as JSON (the shared tier encrypts every entry, bound to its key)."""

    def encode(self, key: str, value: AppToken) -> bytes:
        return value.model_dump_json().encode()

    def decode(self, key: str, data: bytes) -> AppToken:
        return AppToken.model_validate_json(data)

    def tag(self, value: AppToken) -> str:
        return hashlib.sha256(value.access_token.encode()).hexdigest()[:32]


class _InstanceCodec:
    def encode(self, key: str, value: _Stored) -> bytes:
        data = value.data.model_dump(mode="json", by_alias=True, exclude_none=True)
        return json.dumps({"fetchedAt": value.fetched_at, "data": data}).encode()

    def decode(self, key: str, data: bytes) -> _Stored:
        body = json.loads(data)
        return _Stored(AppInstance.model_validate(body["data"]), float(body["fetchedAt"]))

    def tag(self, value: _Stored) -> str:
        return ""


class Elevation:
    """``await elevation.app_token(id)`` and ``await elevation.instance(id)``.

    ``shared`` adds a tier shared by every process (Redis): one client_credentials call per
    instance and refresh window, and one instance read per TTL, across all of them.
    """

    def __init__(
        self,
        *,
        client: WixClient,
        policy: ElevationPolicy,
        cache_enabled: bool = True,
        clock: Callable[[], float] = time.time,
        shared: SharedBackend | None = None,
        shared_observer: Callable[[str, str], None] | None = None,
        removed: RemovedInstances | None = None,
    ) -> None:
        self._client = client
        self._removed = removed
        self._policy = policy
        self._cache_enabled = cache_enabled
        self._clock = clock
        self._fetched_hooks: list[FetchedHook] = []
        self._serving_stale = False

        def observer(name: str) -> Callable[[str], None] | None:
            if shared_observer is None:
                return None
            return lambda result: shared_observer(name, result)

        self._tokens: Cache[AppToken] = Cache(
            namespace=TOKENS,
            codec=_TokenCodec(),
            max_size=policy.max_instances,
            shared=shared,
            clock=clock,
            observer=observer("app_token"),
            refresh_due=self._token_due,
        )
        self._instances: Cache[_Stored] = Cache(
            namespace=INSTANCES,
            codec=_InstanceCodec(),
            max_size=policy.max_instances,
            shared=shared,
            fresh=self._is_fresh,
            clock=clock,
            observer=observer("instance"),
            refresh_due=self._instance_due,
        )

    # -- app tokens -----------------------------------------------------------------------

    async def app_token(self, instance_id: str) -> AppToken:
        """A valid app token for the instance, minted at most once per refresh window."""
        self._check(instance_id)
        if not self._cache_enabled:
            return (await self._mint(instance_id))[0]
        return await self._tokens.load(instance_id, lambda: self._mint(instance_id))

    async def drop_app_token(self, instance_id: str, token: AppToken | None = None) -> None:
        """Forget the instance's token (only ``token``, if given and still the cached one)."""
        await self._tokens.drop(instance_id, only=token)

    async def _mint(self, instance_id: str) -> tuple[AppToken, float]:
        token = await self._client.create_app_token(
            client_id=self._policy.app_id,
            client_secret=self._policy.app_secret,
            instance_id=instance_id,
        )
        token = token.model_copy(update={"obtained_at": self._clock()})
        return token, token.expires_at - self._policy.refresh_margin

    # -- instance data --------------------------------------------------------------------

    async def instance(self, instance_id: str) -> InstanceData:
        """Instance and site data: cached briefly; stale (and marked so) when Wix is down."""
        self._check(instance_id)
        if not self._cache_enabled:
            fresh, _ = await self._read_instance(instance_id)
            return InstanceData(instance_id, fresh.data, fresh.fetched_at)
        try:
            fresh = await self._instances.load(
                instance_id, lambda: self._read_instance(instance_id)
            )
        except (UpstreamUnavailableError, RateLimitedError, ProtocolError):
            # Wix down, throttling, or answering garbage: the last good answer is better.
            stored = await self._instances.fallback(instance_id)
            if stored is None:
                raise
            self._note_stale(True)
            return InstanceData(instance_id, stored.data, stored.fetched_at, stale=True)
        return InstanceData(instance_id, fresh.data, fresh.fetched_at)

    def on_fetched(self, hook: FetchedHook) -> None:
        """``hook(instance_id, data)`` after each read of instance data from Wix itself."""
        self._fetched_hooks.append(hook)

    def _note_stale(self, stale: bool) -> None:
        """Log the switch between fresh and stale answers once, not once per request."""
        if stale == self._serving_stale:
            return
        self._serving_stale = stale
        if stale:
            logger.warning("serving stale instance data: Wix is unavailable")
        else:
            logger.info("Wix answers again: instance data is fresh")

    def forget_instance(self, instance_id: str) -> Awaitable[None]:
        """Drop everything cached for the instance (app removed, plan changed), everywhere.

        This process forgets at once; the shared tier and the other processes in the
        background. Await the result to wait until they have been told.
        """
        pending = [cache.forget(instance_id) for cache in (self._tokens, self._instances)]
        if all(each is done for each in pending):
            return done
        return cast("Awaitable[None]", asyncio.gather(*pending))

    def _check(self, instance_id: str) -> None:
        if self._removed is not None:
            self._removed.check(instance_id)  # nothing is served for a removed instance

    def _is_fresh(self, stored: _Stored) -> bool:
        """Usable without waiting: within the TTL, or in the grace that follows it."""
        return self._clock() - stored.fetched_at < self._policy.instance_ttl * _USABLE_FOR

    def _instance_due(self, stored: _Stored, _expires_at: float) -> bool:
        return self._clock() - stored.fetched_at >= self._policy.instance_ttl

    def _token_due(self, token: AppToken, expires_at: float) -> bool:
        return self._clock() >= expires_at - REFRESH_AHEAD * (expires_at - token.obtained_at)

    async def settled(self) -> None:
        """Wait for the background refreshes under way (tests)."""
        await asyncio.gather(self._tokens.settled(), self._instances.settled())

    def close(self) -> None:
        """Cancel the background refreshes under way (shutdown)."""
        self._tokens.close()
        self._instances.close()

    async def _read_instance(self, instance_id: str) -> tuple[_Stored, float]:
        data = await self.with_app_token(instance_id, self._client.get_app_instance)
        self._note_stale(False)
        for hook in self._fetched_hooks:
            hook(instance_id, data)
        stored = _Stored(data, self._clock())
        return stored, stored.fetched_at + self._policy.instance_stale_ttl

    async def with_app_token(self, instance_id: str, call: Callable[[str], Awaitable[T]]) -> T:
        """Run ``call(token)``; if Wix refuses the token (401), mint a new one once and retry."""
        token = await self.app_token(instance_id)
        try:
            return await call(token.access_token)
        except InvalidTokenError:
            return await call((await self.renew_app_token(instance_id, token)).access_token)

    async def renew_app_token(self, instance_id: str, refused: AppToken) -> AppToken:
        """Wix refused ``refused`` (401): drop it (unless another caller already has) and get
        a new one. Concurrent callers with the same refused token share one mint."""
        await self.drop_app_token(instance_id, refused)
        return await self.app_token(instance_id)

    def auth(self, instance_id: str) -> ElevatedAuth:
        """An ``httpx.Auth`` for any Wix REST call on behalf of the instance."""
        return ElevatedAuth(self, instance_id)


class RenewingAuth(httpx.Auth):
    """An ``httpx.Auth`` that sends a cached Wix token and, when Wix answers 401, renews it
    once and resends: the one flow behind ``ElevatedAuth`` and ``CallerAuth``."""

    requires_response_body = False

    async def current(self) -> AppToken:
        raise NotImplementedError

    async def renew(self, refused: AppToken) -> AppToken:
        raise NotImplementedError

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError(f"{type(self).__name__} is async-only: use it with httpx.AsyncClient.")
        yield request  # pragma: no cover

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.current()
        request.headers["Authorization"] = token.access_token
        response = yield request
        if response.status_code == 401:
            token = await self.renew(token)
            request.headers["Authorization"] = token.access_token
            yield request


class ElevatedAuth(RenewingAuth):
    """The Python counterpart of the SDK's ``AppStrategy(...).elevated()``.

    Injects the instance's cached app token; on a 401 it mints a new token once and resends.
    """

    def __init__(self, elevation: Elevation, instance_id: str) -> None:
        self._elevation = elevation
        self._instance_id = instance_id

    async def current(self) -> AppToken:
        return await self._elevation.app_token(self._instance_id)

    async def renew(self, refused: AppToken) -> AppToken:
        return await self._elevation.renew_app_token(self._instance_id, refused)
