"""WixApp: the one object a Python backend needs to identify and serve Wix app instances."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, TypeVar

import httpx

from wixapp.breaker import CircuitBreaker
from wixapp.cache import Codec, InstanceCache, RedisBackend, RedisOptions
from wixapp.cache.claims import IntervalClaims
from wixapp.cache.layered import done
from wixapp.config import Settings, load_settings
from wixapp.identity.budget import BudgetPolicy, TokenCheckBudget
from wixapp.identity.caller import CallerAuth, CallerTokens
from wixapp.identity.elevation import Elevation, ElevationPolicy, InstanceData
from wixapp.identity.identifier import Identifier, IdentityPolicy, token_from_header
from wixapp.identity.legacy import verify_instance_param
from wixapp.identity.removal import RemovedInstances
from wixapp.metrics import Metrics
from wixapp.models import AppInstance, AppToken, Caller
from wixapp.upstream.client import RetryPolicy, WixClient

__all__ = ["WixApp"]

V = TypeVar("V")


class _State(Enum):
    NEW = "new"
    STARTED = "started"
    CLOSED = "closed"


class WixApp:
    """Identification, elevation and instance data for one Wix app.

    ``await wix.identify(authorization_header)`` → :class:`Caller`;
    ``await wix.instance(caller.instance_id)`` → :class:`InstanceData`;
    ``wix.elevated_client(instance_id)`` → an ``httpx.AsyncClient`` for any Wix REST call;
    ``wix.caller_client(token)`` → the same, as the caller behind a widget or panel token.

    With ``WIXAPP_REDIS_URL`` set, its caches gain a tier shared by every process (see
    :mod:`wixapp.cache`); ``await wix.start()`` (or ``async with``) subscribes to
    invalidations from the other processes.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``settings`` default to the environment (:func:`load_settings`). ``clock`` replaces
        time for everything that measures it (token and instance expiry, the breaker, the
        budget): tests pass the emulator's movable clock (the ``wix_clock`` fixture)."""
        settings = settings if settings is not None else load_settings()
        self._settings = settings
        self._metrics = metrics or Metrics()
        self._transport = transport
        self._state = _State.NEW
        wall = clock or time.time
        ticks = clock or time.monotonic  # intervals: immune to the wall clock being set
        self._client = self._wix_client(settings, transport, ticks)
        self._shared = self._shared_cache(settings, ticks)
        self._removed = RemovedInstances(
            # Past this, nothing cached or signed for a removed instance is accepted anyway.
            horizon=max(
                settings.token_cache_max_age + settings.expiry_leeway,
                settings.legacy_instance_max_age,
            ),
            max_size=settings.instance_cache_size,
            clock=wall,
            shared=self._shared,
        )
        self._identifier = self._identity(settings, wall, ticks)
        self._elevation = self._elevation_for(settings, wall)
        self._clock = wall
        self._instance_caches: dict[str, InstanceCache[Any]] = {}
        self._caller_tokens = CallerTokens(
            client=self._client,
            app_id=settings.app_id,
            app_secret=settings.app_secret.get_secret_value(),
            clock=wall,
            leeway=settings.expiry_leeway,
            max_size=settings.token_cache_size,
            max_age=settings.token_cache_max_age,
            vet=self.identify,  # a removed instance, or a revoked caller, is refused
        )

    def _wix_client(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None,
        ticks: Callable[[], float],
    ) -> WixClient:
        breaker = CircuitBreaker(
            failures=settings.breaker_failures, reset_after=settings.breaker_reset, clock=ticks
        )
        return WixClient(
            base_url=settings.api_base_url,
            transport=transport,
            timeout=settings.http_timeout,
            retry=RetryPolicy(retries=settings.http_retries),
            max_concurrency=settings.upstream_concurrency,
            deadline=settings.upstream_deadline,
            breaker=breaker,
            observer=self._metrics.upstream_call,
        )

    def _identity(
        self, settings: Settings, wall: Callable[[], float], ticks: Callable[[], float]
    ) -> Identifier:
        return Identifier(
            client=self._client,
            policy=IdentityPolicy(
                app_id=settings.app_id,
                max_age=settings.token_cache_max_age,
                invalid_ttl=settings.invalid_token_ttl,
                leeway=settings.expiry_leeway,
                cache_size=settings.token_cache_size,
            ),
            cache_enabled=settings.cache_enabled,
            clock=wall,
            observer=lambda result: self._metrics.cache_lookup("token_info", result),
            shared=self._shared,
            shared_observer=lambda result: self._metrics.shared_lookup("token_info", result),
            # Budgets shared through Redis need a clock every host agrees on: the wall's.
            budget=self._budget(settings, wall),
            removed=self._removed,
        )

    def _elevation_for(self, settings: Settings, wall: Callable[[], float]) -> Elevation:
        return Elevation(
            client=self._client,
            policy=ElevationPolicy(
                app_id=settings.app_id,
                app_secret=settings.app_secret.get_secret_value(),
                refresh_margin=settings.app_token_refresh_margin,
                instance_ttl=settings.instance_cache_ttl,
                instance_stale_ttl=settings.instance_stale_ttl,
                max_instances=settings.instance_cache_size,
            ),
            cache_enabled=settings.cache_enabled,
            clock=wall,
            shared=self._shared,
            shared_observer=self._metrics.shared_lookup,
            removed=self._removed,
        )

    def _budget(self, settings: Settings, clock: Callable[[], float]) -> TokenCheckBudget | None:
        # Without the cache every request is a token-info call (the Node sample's way, kept
        # for comparisons): a budget would throttle known callers too, so there is none.
        if not settings.cache_enabled:
            return None
        policy = BudgetPolicy(
            per_minute=settings.token_info_budget,
            per_client=settings.token_info_budget_per_ip,
            per_instance=settings.token_info_per_instance,
            reserved_share=settings.token_info_reserved_share,
            per_network=settings.token_info_budget_per_network,
            known_share=settings.token_info_known_share,
            max_entries=settings.budget_table_size,
        )
        return TokenCheckBudget(
            policy, clock=clock, observer=self._metrics.token_check_refused, shared=self._shared
        )

    def _shared_cache(self, settings: Settings, ticks: Callable[[], float]) -> RedisBackend | None:
        if settings.redis_url is None or not settings.cache_enabled:
            return None
        self._metrics.shared_cache_state(True)
        return RedisBackend(
            settings.redis_url,
            prefix=settings.redis_prefix,
            scope=settings.app_id,
            secret=settings.app_secret.get_secret_value(),
            on_state=self._metrics.shared_cache_state,
            options=RedisOptions(request_budget=settings.redis_budget_ms / 1000),
            on_error=self._metrics.shared_cache_error,
            ticks=ticks,
        )

    async def __aenter__(self) -> WixApp:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def metrics(self) -> Metrics:
        return self._metrics

    @property
    def clock(self) -> Callable[[], float]:
        """Epoch seconds as this app sees them (the ``clock`` given, else the wall clock)."""
        return self._clock

    @property
    def client(self) -> WixClient:
        """The Wix client this app calls through (its breaker, its call counts)."""
        return self._client

    async def start(self) -> None:
        """Start listening for the other processes' invalidations (with a shared cache).

        Idempotent while open; after :meth:`aclose` the app cannot start again (its HTTP
        pool and shared-cache connection are gone): build a new ``WixApp``.
        """
        if self._state is _State.CLOSED:
            raise RuntimeError("This WixApp was closed with aclose(); create a new WixApp.")
        if self._state is _State.STARTED:
            return
        self._state = _State.STARTED
        if self._shared is not None:
            await self._shared.start()

    async def aclose(self) -> None:
        if self._state is _State.CLOSED:
            return
        self._state = _State.CLOSED
        self._elevation.close()
        for cache in self._instance_caches.values():
            cache.close()
        if self._shared is not None:
            await self._shared.aclose()
        await self._client.aclose()

    async def shared_cache_status(self) -> str | None:
        """ "ok" or "degraded (why)"; None without a shared cache. For /readyz."""
        return None if self._shared is None else await self._shared.status()

    async def identify(self, authorization: str | None, *, client: str | None = None) -> Caller:
        """The caller behind an ``Authorization`` header value (raw token or ``Bearer``).

        ``client`` is the caller's IP address, for the budget of token-info calls
        (``WIXAPP_TOKEN_INFO_BUDGET_PER_IP``); without it only the overall budget applies.
        """
        # The shape of the token is checked by the identifier wherever it matters (before
        # any call to Wix): a cache hit, which only a checked token can make, skips it.
        token = token_from_header(authorization, check_shape=False)
        return await self._identifier.identify(token, client=client)

    async def identify_request(
        self,
        authorization: str | None,
        *,
        instance: str | None = None,
        client: str | None = None,
    ) -> Caller:
        """The caller of a request: its ``Authorization`` header; when it has none, the
        legacy signed ``instance`` parameter of Wix iframes and dashboards (spec §8),
        checked here with the app secret, in constant time and with no Wix call. OWNER
        makes a USER, anyone else a VISITOR; a bad value is an ``InvalidInstanceError``."""
        if instance is None or authorization is not None:
            return await self.identify(authorization, client=client)
        return self.identify_legacy(instance)

    def identify_legacy(self, value: str) -> Caller:
        """The caller behind a legacy signed ``instance`` value (spec §8), checked locally:
        its HMAC, its age (``WIXAPP_LEGACY_INSTANCE_MAX_AGE``) and whether the app is still
        installed on its site."""
        legacy = verify_instance_param(
            value,
            self._settings.app_secret.get_secret_value(),
            max_age=self._settings.legacy_instance_max_age,
            now=self._clock(),
        )
        caller = legacy.caller()
        self._removed.check(caller.instance_id)
        return caller

    @property
    def removals(self) -> RemovedInstances:
        """The removed instances this process refuses (see :mod:`wixapp.identity.removal`)."""
        return self._removed

    def instance_removed(self, instance_id: str) -> Awaitable[None]:
        """The app was removed from the instance's site: refuse its callers everywhere.

        Cached data is dropped too. This process refuses at once; ``await`` the result to
        wait until the other processes (through the shared cache) have been told.
        """
        pending = [self._removed.mark(instance_id), self.forget_instance(instance_id)]
        if all(each is done for each in pending):
            return done
        return asyncio.gather(*pending)  # type: ignore[return-value]

    def instance_restored(self, instance_id: str) -> Awaitable[None]:
        """The app was installed again: serve the instance's callers again, everywhere."""
        return self._removed.restore(instance_id)

    async def instance(self, instance_id: str) -> InstanceData:
        return await self._elevation.instance(instance_id)

    async def app_token(self, instance_id: str) -> AppToken:
        return await self._elevation.app_token(instance_id)

    def on_instance_fetched(self, hook: Callable[[str, AppInstance], None]) -> None:
        """Call ``hook(instance_id, data)`` each time instance data comes from Wix itself (at
        most once per instance and ``WIXAPP_INSTANCE_CACHE_TTL``); it must not block."""
        self._elevation.on_fetched(hook)

    def forget_instance(self, instance_id: str) -> Awaitable[None]:
        """Drop the instance's cached app token and data, and its entries in every
        :meth:`instance_cache`, in every process (after webhooks).

        This process forgets at once; with a shared cache, Redis and the other processes
        are told in the background. ``await`` the result to wait until they have been
        (it never raises: while Redis is down the invalidation waits for it).
        """
        pending = [self._elevation.forget_instance(instance_id)]
        pending += [cache.invalidate(instance_id) for cache in self._instance_caches.values()]
        if all(each is done for each in pending):
            return done
        return asyncio.gather(*pending)  # type: ignore[return-value]

    def instance_cache(
        self,
        namespace: str,
        load: Callable[[str], Awaitable[V]],
        codec: Codec[V],
        *,
        ttl: float,
        max_size: int = 100_000,
    ) -> InstanceCache[V]:
        """A cache of your own per-instance reads (``load``: instance ID → value), kept in
        every process and in the shared tier (Redis) when there is one. After each write to
        what ``load`` reads, ``await cache.invalidate(instance_id)``: this process reads its
        write, the others see it within the bound :class:`~wixapp.cache.InstanceCache`
        documents. ``codec`` turns values into bytes for the shared tier. The instance's
        entry is also dropped by :meth:`forget_instance` (app removed, plan changed)."""
        cache = InstanceCache(
            namespace=namespace,
            load=load,
            codec=codec,
            ttl=ttl,
            max_size=max_size,
            shared=self._shared,
            clock=self._clock,
            observer=lambda result: self._metrics.shared_lookup(namespace, result),
        )
        self._instance_caches[namespace] = cache
        return cache

    def interval_claims(self, namespace: str, interval: float) -> IntervalClaims | None:
        """Claims of work to do once per window of ``interval`` seconds across every process
        (:class:`~wixapp.cache.claims.IntervalClaims`), or None without a shared tier (or
        with no interval): then each process does its own."""
        if self._shared is None or interval <= 0:
            return None
        return IntervalClaims(self._shared, namespace=namespace, interval=interval)

    def elevated_client(self, instance_id: str, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on the Wix API that acts as the app for this instance."""
        kwargs.setdefault("base_url", self._settings.api_base_url)
        kwargs.setdefault("timeout", self._settings.http_timeout)
        if self._transport is not None:
            kwargs.setdefault("transport", self._transport)
        return httpx.AsyncClient(auth=self._elevation.auth(instance_id), **kwargs)

    def caller_client(self, token: str, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on the Wix API that acts as the caller behind ``token``.

        The counterpart of @wix/sdk's ``AppStrategy({appId, appSecret, accessToken})``:
        Wix APIs see the visitor, member or Wix user, not the app. ``token`` is the caller's
        token as the widget or panel sent it (raw or ``Bearer``); the unbound token Wix
        swaps it for is cached per token until it expires. Identify the caller first.
        """
        kwargs.setdefault("base_url", self._settings.api_base_url)
        kwargs.setdefault("timeout", self._settings.http_timeout)
        if self._transport is not None:
            kwargs.setdefault("transport", self._transport)
        return httpx.AsyncClient(auth=self.caller_auth(token), **kwargs)

    def caller_auth(self, token: str) -> CallerAuth:
        """The ``httpx.Auth`` of :meth:`caller_client`, for a client of your own."""
        return CallerAuth(self._caller_tokens, token_from_header(token))
